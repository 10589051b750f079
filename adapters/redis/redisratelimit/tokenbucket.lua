
-- Token bucket (the generic cell rate algorithm), as ratelimit.MemoryStore
-- applies it. KEYS[1] is the key's hash: latest, the latest time a call
-- was decided at, and tat, the theoretical arrival time, in decimal Unix
-- nanoseconds (absent, tat is 0 as in a new memory entry). ARGV: now,
-- interval and tolerance, each as a pair s, n. It returns the wait in
-- nanoseconds, "0" when the call was permitted.
local k = KEYS[1]
local nows, nown = tonumber(ARGV[1]), tonumber(ARGV[2])
local is, in_ = tonumber(ARGV[3]), tonumber(ARGV[4])
local tols, toln = tonumber(ARGV[5]), tonumber(ARGV[6])
local st = redis.call('HMGET', k, 'latest', 'tat')
local ls, ln, tats, tatn = nows, nown, 0, 0
if st[1] then ls, ln = parse(st[1]) end
if st[2] then tats, tatn = parse(st[2]) end
if not ls or not tats then return redis.error_reply(CORRUPT) end

-- A call that read its clock before the latest one decided is decided at
-- that latest time, not taken for an early call.
local ts, tn = max(ls, ln, nows, nown)
local xs, xn = max(tats, tatn, ts, tn)
local news, newn = add(xs, xn, is, in_)
local ws, wn = sub(news, newn, ts, tn)
ws, wn = sub(ws, wn, tols, toln)
if less(0, 0, ws, wn) then
	-- Rejected: only the latest time moves. tat is ahead of t here, since
	-- the tolerance is at least one interval.
	if not st[1] or ts ~= ls or tn ~= ln then
		redis.call('HSET', k, 'latest', format(ts, tn))
		expire(k, sub(tats, tatn, ts, tn))
	end
	return format(ws, wn)
end
-- Permitted. The state is the same as none once the bucket is full again,
-- at tat: the key expires then.
redis.call('HSET', k, 'latest', format(ts, tn), 'tat', format(news, newn))
expire(k, sub(news, newn, ts, tn))
return '0'
