package bulkhead

import (
	"log/slog"

	"github.com/bulwark-go/bulwark"
)

// The events a bulkhead reports to Config.Observer. A Keyed bulkhead's
// carry the key.
var (
	_ bulwark.Event = Rejected{}
	_ bulwark.Event = LimitChanged{}
)

// Rejected is reported for each call Do or Acquire rejects with ErrFull (a
// TryAcquire that finds no permit reports nothing), on the caller's
// goroutine with the caller's context, before Do or Acquire returns, never
// under a lock. An observer set costs an allocation per rejection (the
// event); none is set by default.
type Rejected struct {
	// Name is Config.Name.
	Name string
	// Key is the key of a Keyed bulkhead's call; "" for a Bulkhead.
	Key string
	// Limit is the bulkhead's limit when the call was rejected.
	Limit int
	// Waited is set when the call waited Config.MaxWait in vain; otherwise
	// it was rejected at once (no waiting allowed, or the line was full).
	Waited bool
}

// Kind returns "bulkhead.rejected".
func (Rejected) Kind() string { return "bulkhead.rejected" }

// Component returns Name.
func (e Rejected) Component() string { return e.Name }

// LogValue returns the key (when set), limit and waited.
func (e Rejected) LogValue() slog.Value {
	return withKey(e.Key, slog.Int("limit", e.Limit), slog.Bool("waited", e.Waited))
}

// LimitChanged is reported when an Adaptive limit changes, on the goroutine
// of the call whose completion changed it, with Do's context
// (context.Background through Permit.Release, which has none), after the
// permit is back and outside any lock. Changes of one bulkhead may be reported out of order
// when calls finish at once on several goroutines; From and To say what
// each was.
type LimitChanged struct {
	// Name is Config.Name.
	Name string
	// Key is the key of a Keyed bulkhead; "" for a Bulkhead.
	Key string
	// From and To are the limits before and after the change.
	From, To int
}

// Kind returns "bulkhead.limit_changed".
func (LimitChanged) Kind() string { return "bulkhead.limit_changed" }

// Component returns Name.
func (e LimitChanged) Component() string { return e.Name }

// LogValue returns the key (when set), from and to.
func (e LimitChanged) LogValue() slog.Value {
	return withKey(e.Key, slog.Int("from", e.From), slog.Int("to", e.To))
}

// withKey is a group of attrs, led by the key when there is one.
func withKey(key string, attrs ...slog.Attr) slog.Value {
	if key == "" {
		return slog.GroupValue(attrs...)
	}
	return slog.GroupValue(append([]slog.Attr{slog.String("key", key)}, attrs...)...)
}
