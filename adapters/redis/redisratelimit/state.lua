-- Reading and expiring the state the rate limit scripts keep.

-- count reads a stored count: absent is 0, anything but a decimal integer
-- in [0, CAP] is nil.
local function count(s)
	if not s then return 0 end
	if not string.match(s, '^%d+$') or #s > 11 then return nil end
	local n = tonumber(s)
	if n > CAP then return nil end
	return n
end

-- ttl returns the milliseconds, rounded up, that cover d nanoseconds (> 0).
local function ttl(d)
	local q, r = divsmall(d, 1e6)
	if r > 0 then q = add(q, ONE) end
	return format(q)
end

-- expire makes key k expire d nanoseconds (> 0) from now, when its state
-- has become the same as none.
local function expire(k, d)
	redis.call('PEXPIRE', k, ttl(d))
end

local CORRUPT = 'corrupt rate limit state'
