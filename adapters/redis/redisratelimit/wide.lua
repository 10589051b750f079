
-- Products and quotients for the sliding window script. A wide number is a
-- table of four limbs {a1, a2, a3, a4} in base 2^16, worth
-- a1 + a2*2^16 + a3*2^32 + a4*2^48 (a1..a3 in [0, 2^16)): it holds the
-- product of a non-negative int64 and a count up to 2^36 with every
-- intermediate value below 2^53.
local B = 65536
local CAP = 68719476736 -- 2^36: the largest count mul and divsmall take
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

-- wide converts s, n >= 0 (below 2^63).
local function wide(s, n)
	local a = norm({s, 0, 0, 0})
	return norm({a[1] * NS + n, a[2] * NS, a[3] * NS, a[4] * NS})
end

-- mul returns a*c for a wide a below 2^63 and an integer c in [0, CAP].
local function mul(a, c)
	return norm({a[1] * c, a[2] * c, a[3] * c, a[4] * c})
end

-- divsmall returns floor(a/c) and a mod c for a wide a >= 0 with a4 < 2^52
-- and an integer c in [1, CAP]. Each step divides an x below 2^53 - c by
-- c, and floor(x / c) is exact then: the double quotient could round up
-- to the next integer q+1 only if (q+1)*c >= 2^53.
local function divsmall(a, c)
	local q, r = {0, 0, 0, 0}, 0
	for i = 4, 1, -1 do
		local x = r * B + a[i]
		q[i] = floor(x / c)
		r = x - q[i] * c
	end
	return q, r
end

-- exceeds reports whether a*c1 > b*c2 for wide a and b and counts c1, c2.
local function exceeds(a, c1, b, c2)
	local x, y = mul(a, c1), mul(b, c2)
	for i = 4, 1, -1 do
		if x[i] ~= y[i] then return x[i] > y[i] end
	end
	return false
end

-- muldiv returns floor(s, n * c1 / c2) as a pair, for s, n >= 0 and counts
-- c1 < c2.
local function muldiv(s, n, c1, c2)
	local q = divsmall(mul(wide(s, n), c1), c2)
	local qs, qn = divsmall(q, NS)
	return qs[1] + B * (qs[2] + B * (qs[3] + B * qs[4])), qn
end

-- mod returns s1, n1 mod s2, n2 for s1, n1 >= 0 and s2, n2 > 0, by binary
-- long division.
local function mod(s1, n1, s2, n2)
	local ds = {{s2, n2}}
	while true do
		local d = ds[#ds]
		local s, n = add(d[1], d[2], d[1], d[2])
		if less(s1, n1, s, n) then break end
		ds[#ds + 1] = {s, n}
	end
	for i = #ds, 1, -1 do
		local d = ds[i]
		if not less(s1, n1, d[1], d[2]) then s1, n1 = sub(s1, n1, d[1], d[2]) end
	end
	return s1, n1
end
