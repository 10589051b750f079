package bulwarkgrpc_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/grpc/bulwarkgrpc"
)

func FuzzParsePushback(f *testing.F) {
	for _, s := range []string{"0", "1", "30", "-1", "", "+5", "2147483647", "2147483648", "99999999999", "1e3", " 5", "007", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := bulwarkgrpc.ParsePushback(v)
		n, err := strconv.ParseUint(v, 10, 64)
		want := err == nil && n <= 1<<31-1 && v[0] != '+'
		if ok != want {
			t.Fatalf("ParsePushback(%q) ok = %v, want %v", v, ok, want)
		}
		if !ok {
			if d != 0 {
				t.Fatalf("ParsePushback(%q) = %v with !ok", v, d)
			}
			return
		}
		if d != time.Duration(n)*time.Millisecond {
			t.Fatalf("ParsePushback(%q) = %v", v, d)
		}
		if back, ok := bulwarkgrpc.ParsePushback(bulwarkgrpc.FormatPushback(d)); !ok || back != d {
			t.Fatalf("FormatPushback(%v) does not parse back: %v, %v", d, back, ok)
		}
	})
}

func FuzzFormatPushback(f *testing.F) {
	for _, d := range []int64{0, 1, int64(time.Millisecond), int64(time.Millisecond) + 1, -5, 1 << 62} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		d := time.Duration(n)
		back, ok := bulwarkgrpc.ParsePushback(bulwarkgrpc.FormatPushback(d))
		if !ok {
			t.Fatalf("FormatPushback(%v) = %q does not parse", d, bulwarkgrpc.FormatPushback(d))
		}
		// rounded up to whole milliseconds, within [0, 2^31-1 ms]
		if limit := time.Duration(1<<31-1) * time.Millisecond; back < min(max(d, 0), limit) || back-max(d, 0) >= time.Millisecond && back != limit && d > 0 {
			t.Fatalf("FormatPushback(%v) parses as %v", d, back)
		}
	})
}

func FuzzParseIdempotencyKey(f *testing.F) {
	f.Add("abc", "", 255)
	f.Add("", "", 255)
	f.Add("a b", "", 255)
	f.Add("k1", "k2", 255)
	f.Add("0123456789", "", 5)
	f.Add("\x7f", "", 255)
	f.Fuzz(func(t *testing.T, a, b string, maxLen int) {
		values := []string{a}
		if b != "" {
			values = append(values, b)
		}
		key, bad := bulwarkgrpc.ParseIdempotencyKey(values, maxLen)
		if (key == "") == (bad == "") {
			t.Fatalf("key %q, bad %q: exactly one must be set", key, bad)
		}
		if key == "" {
			return
		}
		if len(values) != 1 || key != a || len(key) > maxLen {
			t.Fatalf("accepted %q from %q (max %d)", key, values, maxLen)
		}
		for i := 0; i < len(key); i++ {
			if key[i] <= ' ' || key[i] > '~' {
				t.Fatalf("accepted %q with byte %#x", key, key[i])
			}
		}
	})
}
