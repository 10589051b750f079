
-- Reading and expiring the state the rate limit scripts keep.
local CORRUPT = 'corrupt rate limit state'

-- ms returns the milliseconds, rounded up, in a duration s, n > 0, in
-- decimal.
local function ms(s, n)
	return string.format('%d', s * 1000 + math.ceil(n / 1e6))
end

-- GRACE_MS is how long a key outlives the moment its state becomes the
-- same as none. Expiry runs on Redis's clock while the state is judged by
-- the callers' times: without a grace, a caller whose next call reaches
-- Redis later than its own clock says (a paused process, a loaded host)
-- would find the state gone a moment early and be permitted a call too
-- many.
local GRACE_MS = 2000

-- expire makes key k expire s, n nanoseconds (> 0) from now, when its
-- state has become the same as none, plus GRACE_MS.
local function expire(k, s, n)
	redis.call('PEXPIRE', k, string.format('%d', s * 1000 + math.ceil(n / 1e6) + GRACE_MS))
end
