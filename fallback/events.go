package fallback

import (
	"log/slog"

	"github.com/bulwark-go/bulwark"
)

var _ bulwark.Event = FellBack{}

// FellBack is reported when op failed with a handled error and the
// alternative is about to run: on the caller's goroutine, with the caller's
// context, never while a lock is held. A Fallback without an Observer
// builds no event. Kind "fallback.fell_back".
type FellBack struct {
	// Name is the Fallback's Config.Name.
	Name string
	// Err is op's error, which the alternative is to replace.
	Err error
}

// Kind returns "fallback.fell_back".
func (FellBack) Kind() string { return "fallback.fell_back" }

// Component returns the Fallback's name.
func (e FellBack) Component() string { return e.Name }

// LogValue returns op's error under "error".
func (e FellBack) LogValue() slog.Value {
	var text string
	if e.Err != nil {
		text = e.Err.Error()
	}
	return slog.GroupValue(slog.String("error", text))
}
