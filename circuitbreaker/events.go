package circuitbreaker

import (
	"log/slog"

	"github.com/bulwark-go/bulwark"
)

// The events a breaker reports to Config.Observer. For a Keyed set, every
// key's breaker reports to KeyedConfig.Breaker.Observer with Key set.
var (
	_ bulwark.Event = StateChange{}
	_ bulwark.Event = Rejected{}
)

// StateChange is reported after every change of state, automatic (a trip,
// the end of the open wait, the probes' verdict) or by an operator
// (ForceOpen, Disable, Reset).
//
// A breaker reports its changes one at a time, in the order they happened,
// never while it holds its lock: Observe may call any method of the
// breaker, and a change it causes is reported after the one being
// reported. Observe usually runs on the goroutine whose call caused the
// change, with that call's context (context.Background for State,
// Metrics and the operator methods); when another goroutine is already
// reporting this breaker's changes, that goroutine reports this one too,
// so that the order holds.
type StateChange struct {
	// Name is the breaker's Config.Name (for a Keyed set, the set's).
	Name string
	// Key is the key of a Keyed set's breaker; nil for a Breaker.
	Key any
	// From and To are the states before and after the change.
	From, To State
	// Metrics is the breaker's snapshot just before the change: for a trip,
	// the window that tripped it.
	Metrics Metrics
}

// Kind returns "circuitbreaker.state_change".
func (StateChange) Kind() string { return "circuitbreaker.state_change" }

// Component returns Name.
func (e StateChange) Component() string { return e.Name }

// LogValue returns the key (when set), from, to, and the window's calls,
// failures, slow_calls, failure_rate and slow_call_rate.
func (e StateChange) LogValue() slog.Value {
	m := e.Metrics
	return withKey(e.Key,
		slog.String("from", e.From.String()),
		slog.String("to", e.To.String()),
		slog.Int("calls", m.Calls),
		slog.Int("failures", m.Failures),
		slog.Int("slow_calls", m.SlowCalls),
		slog.Float64("failure_rate", m.FailureRate),
		slog.Float64("slow_call_rate", m.SlowCallRate),
	)
}

// Rejected is reported for every call the breaker rejects (with DryRun,
// every call it would have rejected and let through), on the caller's
// goroutine with the caller's context, before Do or Allow returns, never
// under the breaker's lock. Rejections that calls share (an open
// breaker's at one clock reading, the forced-open and the half-open one)
// carry their event made once, so observing them allocates nothing; the
// Observer is called once per rejected call all the same.
type Rejected struct {
	// Name is the breaker's Config.Name (for a Keyed set, the set's).
	Name string
	// Key is the key of a Keyed set's breaker; nil for a Breaker.
	Key any
	// Err is the rejection Do or Allow returned (with DryRun, would have
	// returned): its State and RetryAfter say why and for how long.
	Err *OpenError
	// DryRun is set when the call was let through anyway (Config.DryRun).
	DryRun bool
}

// Kind returns "circuitbreaker.rejected".
func (Rejected) Kind() string { return "circuitbreaker.rejected" }

// Component returns Name.
func (e Rejected) Component() string { return e.Name }

// LogValue returns the key (when set), state, retry_after and dry_run.
func (e Rejected) LogValue() slog.Value {
	return withKey(e.Key,
		slog.String("state", e.Err.State.String()),
		slog.Duration("retry_after", e.Err.Wait),
		slog.Bool("dry_run", e.DryRun),
	)
}

// withKey is a group of attrs, led by the key when there is one.
func withKey(key any, attrs ...slog.Attr) slog.Value {
	if key == nil {
		return slog.GroupValue(attrs...)
	}
	return slog.GroupValue(append([]slog.Attr{slog.Any("key", key)}, attrs...)...)
}
