
-- Sliding window, as ratelimit.MemoryStore applies it. KEYS[1] is the
-- key's hash: latest, the latest time a call was decided at (Unix
-- nanoseconds), and the window: start, the start of the current fixed
-- window, and prev and curr, the calls counted in the previous and the
-- current one (absent, all 0, as in a new memory entry). ARGV: now, the
-- start of now's fixed window, the period in nanoseconds, and the limit.
-- It returns the wait in nanoseconds, "0" when the call was permitted.
local k = KEYS[1]
local now, nowstart, period = parse(ARGV[1]), parse(ARGV[2]), parse(ARGV[3])
local limit = tonumber(ARGV[4])
local st = redis.call('HMGET', k, 'latest', 'start', 'prev', 'curr')
local latest, start, prev, curr = now, ZERO, count(st[3]), count(st[4])
if st[1] then latest = parse(st[1]) end
if st[2] then start = parse(st[2]) end
if not latest or not start or not prev or not curr then return redis.error_reply(CORRUPT) end

-- A call that read its clock before the latest one decided is decided at
-- that latest time, in that time's fixed window.
local t, tstart = now, nowstart
if cmp(latest, now) > 0 then
	t = latest
	tstart = sub(t, mod(sub(t, nowstart), period))
end
local changed = not st[1] or cmp(t, latest) ~= 0

local nextstart = add(start, period)
if cmp(tstart, start) == 0 then
	-- still the current window
elseif cmp(tstart, nextstart) > 0 then
	start, prev, curr, changed = tstart, 0, 0, true
elseif cmp(tstart, start) > 0 then
	-- The next window; or, after the rule's period changed, one that began
	-- within a period of the stored one: its calls weigh as the previous
	-- window's. (ratelimit.MemoryStore keeps counting in the stored window
	-- then, and can return a negative wait.)
	start, prev, curr, changed = tstart, curr, 0, true
end
-- (An earlier window, after the period grew, counts in the stored one.)
local elapsed = sub(t, start)
if elapsed[4] < 0 then
	elapsed = ZERO
elseif cmp(elapsed, period) > 0 then
	elapsed = period
end

-- save writes the state, which is the same as none two periods after the
-- current window's start: the key expires then.
local function save()
	redis.call('HSET', k, 'latest', format(t), 'start', format(start),
		'prev', string.format('%d', prev), 'curr', string.format('%d', curr))
	expire(k, sub(add(start, add(period, period)), t))
end

-- The call fits when curr < limit and prev*(period-elapsed) <= c*period
-- for c = limit-curr-1. That holds without multiplying when c >= prev;
-- otherwise both sides are products of counts (c < prev) and wide numbers.
local c = limit - curr - 1
if curr < limit and (c >= prev or cmp(mul(sub(period, elapsed), prev), mul(period, c)) <= 0) then
	if curr >= CAP then
		return redis.error_reply('more than 2^36 calls counted in one window')
	end
	curr = curr + 1
	save()
	return '0'
end

local wait
if curr >= limit then
	-- The current window is full: wait for the next one, and in it until
	-- this window's calls weigh at most limit-1. In the next window, at
	-- offset e: curr*(period-e) <= (limit-1)*period.
	local e = sub(period, (divsmall(mul(period, limit - 1), curr)))
	wait = sub(add(add(start, period), e), t)
else
	-- The current window has room but the previous one still weighs too
	-- much: wait until prev*(period-e) <= c*period.
	local e = sub(period, (divsmall(mul(period, c), prev)))
	wait = max(sub(add(start, e), t), ONE)
end
if changed then save() end
return format(wait)
