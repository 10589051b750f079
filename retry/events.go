package retry

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

// The events a Retrier reports to its Config.Observer. Each is reported
// synchronously on the goroutine that called Do (or the function Handler
// returned), with that call's context, and never while a lock is held. A
// Retrier without an Observer builds no event, so they cost nothing then.
var (
	_ bulwark.Event = Retried{}
	_ bulwark.Event = GaveUp{}
	_ bulwark.Event = DeadLettered{}
)

// Retried is reported when an attempt failed and Do is about to wait Delay
// before the next one: once per retry, never for the attempt Do gives up
// on. Kind "retry.retried".
type Retried struct {
	// Name is the Retrier's Config.Name.
	Name string
	// Attempt is the number of the attempt that failed, 1 for the first.
	Attempt int
	// Err is that attempt's error.
	Err error
	// Delay is the wait chosen before the next attempt.
	Delay time.Duration
}

// Kind returns "retry.retried".
func (Retried) Kind() string { return "retry.retried" }

// Component returns the Retrier's name.
func (e Retried) Component() string { return e.Name }

// LogValue returns the attempt, the wait and the error under "error".
func (e Retried) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("attempt", e.Attempt),
		slog.Duration("delay", e.Delay),
		errAttr(e.Err),
	)
}

// GaveUp is reported when Do gives up after running op at least once, just
// before it returns the *Error with the same fields. It is not reported for
// a success, nor when ctx was done before the first attempt. Kind
// "retry.gave_up".
type GaveUp struct {
	// Name is the Retrier's Config.Name.
	Name string
	// Attempts is how many times op ran.
	Attempts int
	// Reason is why Do stopped (see Error.Reason).
	Reason error
	// Err is the last attempt's error.
	Err error
}

// Kind returns "retry.gave_up".
func (GaveUp) Kind() string { return "retry.gave_up" }

// Component returns the Retrier's name.
func (e GaveUp) Component() string { return e.Name }

// LogValue returns the attempts, the reason and the last error under
// "error".
func (e GaveUp) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("attempts", e.Attempts),
		slog.String("reason", errText(e.Reason)),
		errAttr(e.Err),
	)
}

// DeadLettered is reported by a function made by Handler once its sink has
// stored a message the Retrier gave up on; a message the sink failed to
// store is not reported (the caller gets the error). Kind
// "retry.dead_lettered".
type DeadLettered struct {
	// Name is the Retrier's Config.Name.
	Name string
	// Attempts is how many times the handler ran on the message.
	Attempts int
	// Err is the error the Retrier gave up with (an *Error).
	Err error
}

// Kind returns "retry.dead_lettered".
func (DeadLettered) Kind() string { return "retry.dead_lettered" }

// Component returns the Retrier's name.
func (e DeadLettered) Component() string { return e.Name }

// LogValue returns the attempts and the error under "error".
func (e DeadLettered) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("attempts", e.Attempts), errAttr(e.Err))
}

func errAttr(err error) slog.Attr { return slog.String("error", errText(err)) }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
