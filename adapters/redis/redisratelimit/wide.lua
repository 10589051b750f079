-- Exact integer arithmetic for the rate limit scripts. Lua 5.1, which
-- Redis runs, has only doubles, exact up to 2^53: Unix nanoseconds (about
-- 2^61) and the sliding window's products need more. A wide number is a
-- table of four limbs {a1, a2, a3, a4} in base 2^16, worth
-- a1 + a2*2^16 + a3*2^32 + a4*2^48, with a1..a3 in [0, 2^16) and a4 signed.
-- It holds every int64, and the product of one with a count up to 2^36,
-- with every intermediate value below 2^53.
local B = 65536
local CAP = 68719476736 -- 2^36: the largest count mul and divsmall accept
local floor = math.floor

-- norm carries each limb's excess into the next one, in place.
local function norm(a)
	for i = 1, 3 do
		local c = floor(a[i] / B)
		a[i] = a[i] - c * B
		a[i + 1] = a[i + 1] + c
	end
	return a
end

-- wide converts an integer below 2^53 in magnitude.
local function wide(n)
	return norm({n, 0, 0, 0})
end

local ZERO, ONE = wide(0), wide(1)

local function add(a, b)
	return norm({a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4]})
end

local function sub(a, b)
	return norm({a[1] - b[1], a[2] - b[2], a[3] - b[3], a[4] - b[4]})
end

-- cmp returns -1, 0 or 1 as a is less than, equal to or greater than b.
local function cmp(a, b)
	for i = 4, 1, -1 do
		if a[i] ~= b[i] then
			if a[i] < b[i] then return -1 end
			return 1
		end
	end
	return 0
end

local function max(a, b)
	if cmp(a, b) >= 0 then return a end
	return b
end

-- mul returns a*n for an int64 a and an integer n in [0, CAP].
local function mul(a, n)
	return norm({a[1] * n, a[2] * n, a[3] * n, a[4] * n})
end

-- divsmall returns floor(a/n) and a mod n for a >= 0 with a4 < 2^52 and
-- an integer n in [1, CAP]. Each step divides an x below 2^53 - n by n,
-- and floor(x / n) is exact then: the double quotient could round up to
-- the next integer q+1 only if (q+1)*n >= 2^53.
local function divsmall(a, n)
	local q, r = {0, 0, 0, 0}, 0
	for i = 4, 1, -1 do
		local x = r * B + a[i]
		q[i] = floor(x / n)
		r = x - q[i] * n
	end
	return q, r
end

-- mod returns a mod p for a >= 0 and p > 0, by binary long division.
local function mod(a, p)
	local ps = {p}
	while true do
		local d = add(ps[#ps], ps[#ps])
		if cmp(d, a) > 0 then break end
		ps[#ps + 1] = d
	end
	for i = #ps, 1, -1 do
		if cmp(a, ps[i]) >= 0 then a = sub(a, ps[i]) end
	end
	return a
end

-- number converts a wide number below 2^53 in magnitude.
local function number(a)
	return a[1] + B * (a[2] + B * (a[3] + B * a[4]))
end

-- parse reads a decimal integer of at most 19 digits, or returns nil.
local function parse(s)
	if type(s) ~= 'string' then return nil end
	local sign, d = string.match(s, '^(%-?)(%d+)$')
	if not d or #d > 19 then return nil end
	local first = (#d - 1) % 9 + 1
	local a = wide(tonumber(string.sub(d, 1, first)))
	for i = first + 1, #d, 9 do
		local chunk = tonumber(string.sub(d, i, i + 8))
		a = norm({a[1] * 1e9 + chunk, a[2] * 1e9, a[3] * 1e9, a[4] * 1e9})
	end
	if sign == '-' then a = sub(ZERO, a) end
	return a
end

-- format writes a wide number below 2^64 in magnitude in decimal.
local function format(a)
	local sign = ''
	if a[4] < 0 then sign, a = '-', sub(ZERO, a) end
	local q, lo = divsmall(a, 1e9)
	local hi, mid = divsmall(q, 1e9)
	hi = number(hi)
	if hi > 0 then return string.format('%s%d%09d%09d', sign, hi, mid, lo) end
	if mid > 0 then return string.format('%s%d%09d', sign, mid, lo) end
	return string.format('%s%d', sign, lo)
end
