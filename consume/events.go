package consume

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

// The events a Consumer reports to its Config.Observer. Each is reported
// synchronously on the goroutine handling the message (a worker; the
// Consumer's timer goroutine for a held message whose lease is gone; Run's
// own for the messages it releases as it stops), with the Consumer's work
// context, and never while a lock is held. A Consumer without an Observer
// builds no event.
var (
	_ bulwark.Event = Failed{}
	_ bulwark.Event = Redelivered{}
	_ bulwark.Event = DeadLettered{}
	_ bulwark.Event = Released{}
	_ bulwark.Event = Dropped{}
)

// Failed is reported for each handler run that returned an error, except
// errors caused by the Consumer's shutdown. Kind "consume.failed".
type Failed struct {
	// Name is the Consumer's Config.Name.
	Name string
	// ID, Key, Topic and Attempt are the message's.
	ID, Key, Topic string
	Attempt        int
	// Run counts the handler's runs within this delivery, from 1; runs
	// after the first are in-place retries.
	Run int
	// Err is the handler's error.
	Err error
	// Retry is the wait before the next in-place run, or -1 when none
	// follows (the message is redelivered, released or dead-lettered
	// next, each reported by its own event).
	Retry time.Duration
}

// Kind returns "consume.failed".
func (Failed) Kind() string { return "consume.failed" }

// Component returns the Consumer's name.
func (e Failed) Component() string { return e.Name }

// LogValue returns the message, the run, the retry wait and the error
// under "error".
func (e Failed) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", e.ID), slog.String("key", e.Key), slog.String("topic", e.Topic), slog.Int("attempt", e.Attempt),
		slog.Int("run", e.Run), slog.Duration("retry", e.Retry), errAttr(e.Err),
	)
}

// Redelivered is reported when a failed message is set to be delivered
// again after Delay: held by the Consumer (a message with a Key, InProcess
// true) or handed back to the Source with Delivery.Redeliver. Kind
// "consume.redelivered".
type Redelivered struct {
	// Name is the Consumer's Config.Name.
	Name string
	// ID, Key, Topic and Attempt are the message's; Attempt is the
	// delivery that failed.
	ID, Key, Topic string
	Attempt        int
	// Delay is the wait before the next delivery.
	Delay time.Duration
	// InProcess is true when the Consumer holds the message itself.
	InProcess bool
	// Err is the last handler error.
	Err error
}

// Kind returns "consume.redelivered".
func (Redelivered) Kind() string { return "consume.redelivered" }

// Component returns the Consumer's name.
func (e Redelivered) Component() string { return e.Name }

// LogValue returns the message, the delay and the error under "error".
func (e Redelivered) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", e.ID), slog.String("key", e.Key), slog.String("topic", e.Topic), slog.Int("attempt", e.Attempt),
		slog.Duration("delay", e.Delay), slog.Bool("in_process", e.InProcess), errAttr(e.Err),
	)
}

// DeadLettered is reported once Config.DeadLetters stored a message and the
// message was acknowledged. Kind "consume.dead_lettered".
type DeadLettered struct {
	// Name is the Consumer's Config.Name.
	Name string
	// ID, Key, Topic and Attempt are the message's.
	ID, Key, Topic string
	Attempt        int
	// Runs is how many handler runs the dead letter's history holds.
	Runs int
	// Reason is retry.ErrMaxAttempts or retry.ErrNotRetryable.
	Reason error
	// Err is the last handler error.
	Err error
}

// Kind returns "consume.dead_lettered".
func (DeadLettered) Kind() string { return "consume.dead_lettered" }

// Component returns the Consumer's name.
func (e DeadLettered) Component() string { return e.Name }

// LogValue returns the message, the runs, the reason and the error under
// "error".
func (e DeadLettered) LogValue() slog.Value {
	reason := ""
	if e.Reason != nil {
		reason = e.Reason.Error()
	}
	return slog.GroupValue(
		slog.String("id", e.ID), slog.String("key", e.Key), slog.String("topic", e.Topic), slog.Int("attempt", e.Attempt),
		slog.Int("runs", e.Runs), slog.String("reason", reason), errAttr(e.Err),
	)
}

// Released is reported when the Consumer gives a message back unsettled
// with Delivery.Release: at shutdown, or when its handler was cut short by
// it. Kind "consume.released".
type Released struct {
	// Name is the Consumer's Config.Name.
	Name string
	// ID, Key, Topic and Attempt are the message's.
	ID, Key, Topic string
	Attempt        int
}

// Kind returns "consume.released".
func (Released) Kind() string { return "consume.released" }

// Component returns the Consumer's name.
func (e Released) Component() string { return e.Name }

// LogValue returns the message.
func (e Released) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", e.ID), slog.String("key", e.Key), slog.String("topic", e.Topic), slog.Int("attempt", e.Attempt))
}

// Dropped is reported when a message could not be settled: its Ack,
// Redeliver or Release failed, with ErrGone (its lease or partition moved
// on) or another error of the Source, or its Extend failed with ErrGone
// (other Extend errors are ignored: the next Extend may succeed). The
// Consumer lets it go; the broker redelivers it. Kind "consume.dropped".
type Dropped struct {
	// Name is the Consumer's Config.Name.
	Name string
	// ID, Key, Topic and Attempt are the message's.
	ID, Key, Topic string
	Attempt        int
	// Err is the Source's error.
	Err error
}

// Kind returns "consume.dropped".
func (Dropped) Kind() string { return "consume.dropped" }

// Component returns the Consumer's name.
func (e Dropped) Component() string { return e.Name }

// LogValue returns the message and the error under "error".
func (e Dropped) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", e.ID), slog.String("key", e.Key), slog.String("topic", e.Topic), slog.Int("attempt", e.Attempt), errAttr(e.Err),
	)
}

func errAttr(err error) slog.Attr {
	if err == nil {
		return slog.String("error", "")
	}
	return slog.String("error", err.Error())
}
