package compose

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

// The events of this package, reported to Config.Observer synchronously:
// PartDone on the goroutine that ran the part, with the part's context,
// Answered on the goroutine serving the request, before the answer is
// written.
var (
	_ bulwark.Event = PartDone{}
	_ bulwark.Event = Answered{}
)

// PartDone is reported once per part of each request: its status (0 when
// it got no answer), how long it took from its start (0 when it never
// started: a dependency failed or the deadline came first), its error
// (nil for success) and what was done about it.
type PartDone struct {
	Name    string // the Handler's Config.Name
	Part    string // the part's Key
	Status  int
	Elapsed time.Duration
	Err     error
	// Outcome is "ok", or the failed part's OnError: "fail", "omit" or
	// "fallback".
	Outcome string
}

func (PartDone) Kind() string        { return "compose.part_done" }
func (e PartDone) Component() string { return e.Name }
func (e PartDone) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("part", e.Part), slog.Int("status", e.Status), slog.Duration("elapsed", e.Elapsed), slog.String("outcome", e.Outcome)}
	if e.Err != nil {
		attrs = append(attrs, slog.Any("error", e.Err))
	}
	return slog.GroupValue(attrs...)
}

// Answered is reported once per request: the status answered, the parts
// missing from a partial answer (omitted or replaced by their fallback, in
// Config order) and the time the request took.
type Answered struct {
	Name    string
	Status  int
	Partial []string
	Elapsed time.Duration
}

func (Answered) Kind() string        { return "compose.answered" }
func (e Answered) Component() string { return e.Name }
func (e Answered) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("status", e.Status), slog.Any("partial", e.Partial), slog.Duration("elapsed", e.Elapsed))
}
