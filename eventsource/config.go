package eventsource

import (
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/retry"
)

// checkInt returns an error unless v is 0 (the default, def) or in [lo, hi].
func checkInt(field string, v, lo, hi, def int) error {
	if v != 0 && (v < lo || v > hi) {
		return fmt.Errorf("eventsource: %s must be 0 (meaning %d) or in [%d, %d], got %d", field, def, lo, hi, v)
	}
	return nil
}

// checkDuration returns an error unless d is 0 (the default, def) or in
// (0, hi].
func checkDuration(field string, d, hi, def time.Duration) error {
	if d < 0 || d > hi {
		return fmt.Errorf("eventsource: %s must be 0 (meaning %v) or in (0, %v], got %v", field, def, hi, d)
	}
	return nil
}

// checkBackoff returns an error naming field when b is set and invalid.
func checkBackoff(field string, b retry.Backoff) error {
	if b == nil {
		return nil
	}
	if err := b.Validate(); err != nil {
		return fmt.Errorf("eventsource: %s: %w", field, err)
	}
	return nil
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// maxWait bounds every duration setting: a day.
const maxWait = 24 * time.Hour
