package retry_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	tests := []struct {
		name  string
		value string
		want  time.Duration
		ok    bool
	}{
		{"delta seconds", "120", 120 * time.Second, true},
		{"zero seconds", "0", 0, true},
		{"leading zeros", "007", 7 * time.Second, true},
		{"surrounding whitespace", " \t30 ", 30 * time.Second, true},
		{"overflowing delta saturates at 2^31 s", "99999999999999999999999", (1 << 31) * time.Second, true},
		{"exactly 2^31 s", "2147483648", (1 << 31) * time.Second, true},
		{"IMF-fixdate in the future", "Wed, 21 Oct 2015 07:30:30 GMT", 150 * time.Second, true},
		{"IMF-fixdate now", "Wed, 21 Oct 2015 07:28:00 GMT", 0, true},
		{"IMF-fixdate in the past", "Wed, 21 Oct 2015 07:00:00 GMT", 0, true},
		{"RFC 850 date", "Wednesday, 21-Oct-15 07:29:00 GMT", time.Minute, true},
		{"asctime date", "Wed Oct 21 07:28:10 2015", 10 * time.Second, true},
		{"asctime date with one-digit day", "Fri Oct  2 07:28:00 2015", 0, true},
		{"date beyond 2^31 s saturates", "Fri, 01 Jan 7000 00:00:00 GMT", (1 << 31) * time.Second, true},
		{"empty", "", 0, false},
		{"only whitespace", "  ", 0, false},
		{"negative", "-5", 0, false},
		{"plus sign", "+5", 0, false},
		{"fraction", "1.5", 0, false},
		{"unit suffix", "10s", 0, false},
		{"garbage", "soon", 0, false},
		{"inner space", "1 0", 0, false},
		{"date with numeric zone", "Wed, 21 Oct 2015 07:30:00 +0000", 0, false},
		{"ISO 8601", "2015-10-21T07:30:00Z", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := retry.ParseRetryAfter(tt.value, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseRetryAfterMeasuresFromSubSecondNow(t *testing.T) {
	now := time.Date(2015, 10, 21, 7, 28, 0, 250_000_000, time.UTC)
	got, ok := retry.ParseRetryAfter("Wed, 21 Oct 2015 07:28:01 GMT", now)
	assert.True(t, ok)
	assert.Equal(t, 750*time.Millisecond, got)
}

func TestParseRetryAfterDateIgnoresLocationOfNow(t *testing.T) {
	loc := time.FixedZone("UTC+2", 2*60*60)
	now := time.Date(2015, 10, 21, 9, 28, 0, 0, loc) // 07:28 UTC
	got, ok := retry.ParseRetryAfter("Wed, 21 Oct 2015 07:29:00 GMT", now)
	assert.True(t, ok)
	assert.Equal(t, time.Minute, got)
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{
		"120", "0", " 5 ", "-1", "1.5", "", "99999999999999999999",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Wednesday, 21-Oct-15 07:28:00 GMT",
		"Wed Oct 21 07:28:00 2015", "garbage",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		got, ok := retry.ParseRetryAfter(value, epoch)
		if !ok {
			if got != 0 {
				t.Fatalf("ParseRetryAfter(%q) = %v, false; want 0 with false", value, got)
			}
			return
		}
		if got < 0 || got > (1<<31)*time.Second {
			t.Fatalf("ParseRetryAfter(%q) = %v, outside [0, 2^31 s]", value, got)
		}
		trimmed := strings.Trim(value, " \t")
		if n, err := strconv.ParseUint(trimmed, 10, 64); err == nil && trimmed[0] != '+' {
			want := time.Duration(min(n, 1<<31)) * time.Second
			if got != want {
				t.Fatalf("ParseRetryAfter(%q) = %v, want %v", value, got, want)
			}
			return
		}
		if trimmed == "" || trimmed[0] == '-' || trimmed[0] == '+' {
			t.Fatalf("ParseRetryAfter(%q) accepted a value that is not delta-seconds or a date", value)
		}
		// A date has whole seconds, and so has the wait until it from a
		// whole-second now.
		if got%time.Second != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, which is not a whole-second date", value, got)
		}
	})
}

func FuzzParseRetryAfterDateRoundTrip(f *testing.F) {
	f.Add(int64(0), int64(0))
	f.Add(int64(3600), int64(-7200))
	f.Add(int64(-86400*365), int64(1))
	f.Fuzz(func(t *testing.T, offsetSec, nowNanos int64) {
		offsetSec %= 86400 * 365 * 50
		now := epoch.Add(time.Duration(nowNanos % int64(24*time.Hour)))
		at := epoch.Add(time.Duration(offsetSec) * time.Second)
		want := max(at.Sub(now), 0)
		for _, layout := range []string{time.RFC1123, "Monday, 02-Jan-06 15:04:05 MST", time.ANSIC} {
			value := at.Format(layout)
			if layout == time.RFC1123 {
				value = strings.Replace(value, "UTC", "GMT", 1)
			} else if layout != time.ANSIC {
				value = strings.Replace(value, "UTC", "GMT", 1)
				if at.Year() < 1969 || at.Year() > 2068 {
					continue // two-digit years cannot name it
				}
			}
			got, ok := retry.ParseRetryAfter(value, now)
			if !ok || got != want {
				t.Fatalf("ParseRetryAfter(%q, %v) = %v, %v; want %v, true", value, now, got, ok, want)
			}
		}
	})
}
