package rabbitconsume

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

// The events a Source reports to Config.Observer, on the goroutine that
// called Receive, with its context.
var (
	_ bulwark.Event = ConnectionLost{}
	_ bulwark.Event = ConnectFailed{}
)

// ConnectionLost is reported when the consuming channel ended: its
// connection or the channel closed, or the broker cancelled the consumer
// (the queue was deleted). The next Receive connects again.
type ConnectionLost struct {
	// Source is the Source's Config.Name.
	Source string
	// Queue is the queue consumed.
	Queue string
	// Err is why: the broker's or the library's close reason.
	Err error
}

// Kind returns "rabbitconsume.connection_lost".
func (ConnectionLost) Kind() string { return "rabbitconsume.connection_lost" }

// Component returns the Source's name.
func (e ConnectionLost) Component() string { return e.Source }

// LogValue returns the queue and the error.
func (e ConnectionLost) LogValue() slog.Value {
	return slog.GroupValue(slog.String("queue", e.Queue), slog.Any("error", e.Err))
}

// ConnectFailed is reported when an attempt to connect, open the channel
// or declare the topology failed with an error worth another attempt,
// before the wait for it.
type ConnectFailed struct {
	// Source is the Source's Config.Name.
	Source string
	// Queue is the queue consumed.
	Queue string
	// Attempt counts the failed attempts in a row, from 1.
	Attempt int
	// Err is the attempt's error.
	Err error
	// Wait is the wait before the next attempt.
	Wait time.Duration
}

// Kind returns "rabbitconsume.connect_failed".
func (ConnectFailed) Kind() string { return "rabbitconsume.connect_failed" }

// Component returns the Source's name.
func (e ConnectFailed) Component() string { return e.Source }

// LogValue returns the queue, the attempt, the error and the wait.
func (e ConnectFailed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("queue", e.Queue), slog.Int("attempt", e.Attempt),
		slog.Any("error", e.Err), slog.Duration("wait", e.Wait))
}
