
-- Token bucket (the generic cell rate algorithm), as ratelimit.MemoryStore
-- applies it. KEYS[1] is the key's hash: latest, the latest time a call
-- was decided at, and tat, the theoretical arrival time (Unix nanoseconds;
-- absent, tat is 0 as in a new memory entry). ARGV: now, interval and
-- tolerance in nanoseconds. It returns the wait in nanoseconds, "0" when
-- the call was permitted.
local k = KEYS[1]
local now, interval, tolerance = parse(ARGV[1]), parse(ARGV[2]), parse(ARGV[3])
local st = redis.call('HMGET', k, 'latest', 'tat')
local latest, tat = now, ZERO
if st[1] then latest = parse(st[1]) end
if st[2] then tat = parse(st[2]) end
if not latest or not tat then return redis.error_reply(CORRUPT) end

-- A call that read its clock before the latest one decided is decided at
-- that latest time, not taken for an early call.
local t = max(latest, now)
local newtat = add(max(tat, t), interval)
local wait = sub(sub(newtat, t), tolerance)
if cmp(wait, ZERO) > 0 then
	-- Rejected: only the latest time moves. tat is ahead of t here, since
	-- the tolerance is at least one interval.
	if not st[1] or cmp(t, latest) ~= 0 then
		redis.call('HSET', k, 'latest', format(t))
		expire(k, sub(tat, t))
	end
	return format(wait)
end
-- Permitted. The state is the same as none once the bucket is full again,
-- at tat: the key expires then.
redis.call('HSET', k, 'latest', format(t), 'tat', format(newtat))
expire(k, sub(newtat, t))
return '0'
