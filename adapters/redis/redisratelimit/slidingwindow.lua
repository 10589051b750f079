
-- Sliding window, as ratelimit.MemoryStore applies it. KEYS[1] is the
-- key's hash: latest, the latest time a call was decided at, and the
-- window: start, the start of the current fixed window (both in decimal
-- Unix nanoseconds), and prev and curr, the calls counted in the previous
-- and the current one (absent, all 0, as in a new memory entry). ARGV:
-- now, the start of now's fixed window and the period, each as a pair
-- s, n, and the limit. It returns the wait in nanoseconds, "0" when the
-- call was permitted.
local k = KEYS[1]
local nows, nown = tonumber(ARGV[1]), tonumber(ARGV[2])
local nss, nsn = tonumber(ARGV[3]), tonumber(ARGV[4])
local ps, pn = tonumber(ARGV[5]), tonumber(ARGV[6])
local limit = tonumber(ARGV[7])

-- count reads a stored count: absent is 0, anything but a decimal integer
-- in [0, CAP] is nil.
local function count(v)
	if not v then return 0 end
	if not string.match(v, '^%d+$') or #v > 11 then return nil end
	local c = tonumber(v)
	if c > CAP then return nil end
	return c
end

local st = redis.call('HMGET', k, 'latest', 'start', 'prev', 'curr')
local ls, ln, ss, sn = nows, nown, 0, 0
local prev, curr = count(st[3]), count(st[4])
if st[1] then ls, ln = parse(st[1]) end
if st[2] then ss, sn = parse(st[2]) end
if not ls or not ss or not prev or not curr then return redis.error_reply(CORRUPT) end

-- A call that read its clock before the latest one decided is decided at
-- that latest time, in that time's fixed window.
local ts, tn, xs, xn = nows, nown, nss, nsn
if less(nows, nown, ls, ln) then
	ts, tn = ls, ln
	local ds, dn = sub(ts, tn, nss, nsn)
	ds, dn = mod(ds, dn, ps, pn)
	xs, xn = sub(ts, tn, ds, dn)
end
local changed = not st[1] or ts ~= ls or tn ~= ln

local es, en = add(ss, sn, ps, pn)
if xs == ss and xn == sn then
	-- still the current window
elseif less(es, en, xs, xn) then
	ss, sn, prev, curr, changed = xs, xn, 0, 0, true
elseif less(ss, sn, xs, xn) then
	-- The next window; or, after the rule's period changed, one that began
	-- within a period of the stored one: its calls weigh as the previous
	-- window's. (ratelimit.MemoryStore keeps counting in the stored window
	-- then, and can return a negative wait.)
	ss, sn, prev, curr, changed = xs, xn, curr, 0, true
end
-- (An earlier window, after the period grew, counts in the stored one.)
local els, eln = sub(ts, tn, ss, sn)
if els < 0 then
	els, eln = 0, 0
elseif less(ps, pn, els, eln) then
	els, eln = ps, pn
end

-- save writes the state, which is the same as none two periods after the
-- current window's start: the key expires then.
local function save()
	redis.call('HSET', k, 'latest', format(ts, tn), 'start', format(ss, sn),
		'prev', string.format('%d', prev), 'curr', string.format('%d', curr))
	local s, n = add(ss, sn, ps, pn)
	s, n = add(s, n, ps, pn)
	expire(k, sub(s, n, ts, tn))
end

-- The call fits when curr < limit and prev*(period-elapsed) <= c*period
-- for c = limit-curr-1. That holds without multiplying when c >= prev;
-- otherwise both sides are products of counts (c < prev) and wide numbers.
local c = limit - curr - 1
local fits = curr < limit and c >= prev
if curr < limit and not fits then
	local rs, rn = sub(ps, pn, els, eln)
	fits = not exceeds(wide(rs, rn), prev, wide(ps, pn), c)
end
if fits then
	if curr >= CAP then
		return redis.error_reply('more than 2^36 calls counted in one window')
	end
	curr = curr + 1
	save()
	return '0'
end

local ws, wn
if curr >= limit then
	-- The current window is full: wait for the next one, and in it until
	-- this window's calls weigh at most limit-1. In the next window, at
	-- offset e: curr*(period-e) <= (limit-1)*period.
	local qs, qn = muldiv(ps, pn, limit - 1, curr)
	local e_s, e_n = sub(ps, pn, qs, qn)
	ws, wn = add(ss, sn, ps, pn)
	ws, wn = add(ws, wn, e_s, e_n)
	ws, wn = sub(ws, wn, ts, tn)
else
	-- The current window has room but the previous one still weighs too
	-- much: wait until prev*(period-e) <= c*period.
	local qs, qn = muldiv(ps, pn, c, prev)
	local e_s, e_n = sub(ps, pn, qs, qn)
	ws, wn = add(ss, sn, e_s, e_n)
	ws, wn = sub(ws, wn, ts, tn)
	ws, wn = max(ws, wn, 0, 1)
end
if changed then save() end
return format(ws, wn)
