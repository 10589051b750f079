
-- Reading and expiring the state the rate limit scripts keep.
local CORRUPT = 'corrupt rate limit state'

-- ms returns the milliseconds, rounded up, in a duration s, n > 0, in
-- decimal.
local function ms(s, n)
	return string.format('%d', s * 1000 + math.ceil(n / 1e6))
end

-- expire makes key k expire s, n nanoseconds (> 0) from now, when its
-- state has become the same as none.
local function expire(k, s, n)
	redis.call('PEXPIRE', k, ms(s, n))
end
