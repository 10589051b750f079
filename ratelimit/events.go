package ratelimit

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

var _ bulwark.Event = Rejected{}

// Rejected is reported to Config.Observer for every call a limiter rejects
// (every *LimitedError it returns: at once, or when a wait would last
// beyond MaxWait or the caller's deadline), on the caller's goroutine, with
// the caller's context (context.Background for Allow), before the call
// returns and outside any lock. An error of a Keyed limiter's Store is not
// a rejection and reports nothing. An observer set costs an allocation per
// rejection (the event); none is set by default.
type Rejected struct {
	// Name is Config.Name.
	Name string
	// Key is the key of a Keyed limiter's call; "" for a Limiter.
	Key string
	// RetryAfter is the rejection's RetryAfter: how long until a call
	// would be permitted.
	RetryAfter time.Duration
}

// Kind returns "ratelimit.rejected".
func (Rejected) Kind() string { return "ratelimit.rejected" }

// Component returns Name.
func (e Rejected) Component() string { return e.Name }

// LogValue returns the key (when set) and retry_after.
func (e Rejected) LogValue() slog.Value {
	if e.Key == "" {
		return slog.GroupValue(slog.Duration("retry_after", e.RetryAfter))
	}
	return slog.GroupValue(slog.String("key", e.Key), slog.Duration("retry_after", e.RetryAfter))
}
