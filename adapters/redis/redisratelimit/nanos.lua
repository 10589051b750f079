-- Times and durations in nanoseconds for the rate limit scripts. Lua 5.1,
-- which Redis runs, has only doubles, exact up to 2^53, and Unix
-- nanoseconds are about 2^61: a value is a pair of numbers s, n worth
-- s*1e9 + n, with n in [0, 1e9) and s signed, so that both stay exact.
-- Functions take and return pairs as two values; assign a call's results
-- before passing them on, since Lua keeps only the first result of a call
-- that is not the last argument.
local NS = 1e9

local function add(s1, n1, s2, n2)
	local s, n = s1 + s2, n1 + n2
	if n >= NS then return s + 1, n - NS end
	return s, n
end

local function sub(s1, n1, s2, n2)
	local s, n = s1 - s2, n1 - n2
	if n < 0 then return s - 1, n + NS end
	return s, n
end

-- less reports whether s1, n1 is less than s2, n2.
local function less(s1, n1, s2, n2)
	return s1 < s2 or (s1 == s2 and n1 < n2)
end

local function max(s1, n1, s2, n2)
	if less(s1, n1, s2, n2) then return s2, n2 end
	return s1, n1
end

-- parse reads a decimal integer of at most 19 digits, or returns nil.
local function parse(v)
	local sign, d = string.match(v, '^(%-?)(%d+)$')
	if not d or #d > 19 then return nil end
	local s, n = tonumber(string.sub(d, 1, -10)) or 0, tonumber(string.sub(d, -9))
	if sign == '-' then return sub(0, 0, s, n) end
	return s, n
end

-- format writes s, n in decimal.
local function format(s, n)
	if s < 0 then
		s, n = sub(0, 0, s, n)
		return '-' .. format(s, n)
	end
	if s == 0 then return string.format('%d', n) end
	return string.format('%d%09d', s, n)
end
