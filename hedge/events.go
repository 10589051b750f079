package hedge

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

var _ bulwark.Event = Hedged{}

// Hedged is reported when a hedge starts: an attempt after the first,
// because the latest one went unanswered for Delay. It is reported on the
// hedge's own goroutine, with the caller's context, just before the hedge
// runs op, and never while a lock is held; a Hedger without an Observer
// builds no event. Kind "hedge.hedged".
type Hedged struct {
	// Name is the Hedger's Config.Name.
	Name string
	// Attempt is the number of the attempt starting: 2 for the first hedge.
	Attempt int
	// Delay is how long the previous attempt went unanswered.
	Delay time.Duration
}

// Kind returns "hedge.hedged".
func (Hedged) Kind() string { return "hedge.hedged" }

// Component returns the Hedger's name.
func (e Hedged) Component() string { return e.Name }

// LogValue returns the attempt and the delay.
func (e Hedged) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("attempt", e.Attempt), slog.Duration("delay", e.Delay))
}
