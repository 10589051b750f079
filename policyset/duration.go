package policyset

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration written in a document as a Go duration string
// ("250ms", "2s", "1m30s"). The word "none" stands for -1, the value of the
// named settings that turn a wait off (hedge.NoDelay,
// circuitbreaker.NoMaxHalfOpenWait).
type Duration time.Duration

// MarshalJSON writes d as a duration string, or "none" for -1.
func (d Duration) MarshalJSON() ([]byte, error) {
	if d == -1 {
		return []byte(`"none"`), nil
	}
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string or "none".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"2s\", got %s", b)
	}
	if s == "none" {
		*d = -1
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("a duration must be a string such as \"2s\" or \"none\", got %q", s)
	}
	*d = Duration(v)
	return nil
}
