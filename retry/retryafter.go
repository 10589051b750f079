package retry

import (
	"time"
)

// maxDeltaSeconds is the longest wait ParseRetryAfter reports, in seconds;
// longer ones are read as this one, as RFC 9111 §1.2.2 asks of delta-seconds
// that overflow (2^31 seconds is about 68 years).
const maxDeltaSeconds = 1 << 31

// httpDateLayouts are the three HTTP-date forms of RFC 9110 §5.6.7: the
// preferred IMF-fixdate and the obsolete RFC 850 and asctime forms, which
// recipients must still accept.
var httpDateLayouts = [...]string{
	"Mon, 02 Jan 2006 15:04:05 GMT",
	"Monday, 02-Jan-06 15:04:05 GMT",
	"Mon Jan _2 15:04:05 2006",
}

// ParseRetryAfter parses the value of an HTTP Retry-After header (RFC 9110
// §10.2.3) and returns how long to wait from now.
//
// Both forms are accepted: delta-seconds ("120") and an HTTP-date
// ("Wed, 21 Oct 2015 07:28:00 GMT", or the obsolete RFC 850 and asctime
// forms). Surrounding spaces and tabs are ignored. A date at or before now
// yields 0, true: the server allows a retry at once. A wait beyond 2^31
// seconds, in either form, is read as 2^31 seconds. Anything else — empty, negative, fractional,
// signed or unparsable — yields 0, false.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = trimOWS(value)
	if value == "" {
		return 0, false
	}
	if secs, ok := parseDeltaSeconds(value); ok {
		return time.Duration(secs) * time.Second, true
	}
	for _, layout := range httpDateLayouts {
		t, err := time.Parse(layout, value)
		if err != nil {
			continue
		}
		return min(max(t.Sub(now), 0), maxDeltaSeconds*time.Second), true
	}
	return 0, false
}

// parseDeltaSeconds parses 1*DIGIT, saturating at maxDeltaSeconds.
func parseDeltaSeconds(s string) (int64, bool) {
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxDeltaSeconds {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, maxDeltaSeconds), true
}

// trimOWS removes the optional whitespace (spaces and horizontal tabs) that
// HTTP allows around a field value.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
