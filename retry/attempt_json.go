package retry

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// attemptJSON is an Attempt's JSON form.
type attemptJSON struct {
	Number   int       `json:"number"`
	Start    time.Time `json:"start"`
	Duration string    `json:"duration"`
	Err      string    `json:"error,omitempty"`
	Delay    string    `json:"delay,omitempty"`
}

// MarshalJSON writes the attempt as {"number", "start" (RFC 3339),
// "duration" and "delay" (Go duration strings; delay left out when 0),
// "error" (the error's text; left out when nil)}: the history dead-letter
// sinks (kafkadlq, natsconsume) store with a letter.
func (a Attempt) MarshalJSON() ([]byte, error) {
	j := attemptJSON{Number: a.Number, Start: a.Start, Duration: a.Duration.String()}
	if a.Err != nil {
		j.Err = a.Err.Error()
	}
	if a.Delay != 0 {
		j.Delay = a.Delay.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON wrote. The error comes back as an
// error carrying the stored text (nil when there was none); a duration or
// delay that does not parse is an error.
func (a *Attempt) UnmarshalJSON(data []byte) error {
	var j attemptJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	d, err := time.ParseDuration(j.Duration)
	if err != nil {
		return fmt.Errorf("retry: attempt %d: duration: %w", j.Number, err)
	}
	*a = Attempt{Number: j.Number, Start: j.Start, Duration: d}
	if j.Delay != "" {
		if a.Delay, err = time.ParseDuration(j.Delay); err != nil {
			return fmt.Errorf("retry: attempt %d: delay: %w", j.Number, err)
		}
	}
	if j.Err != "" {
		a.Err = errors.New(j.Err)
	}
	return nil
}
