package strangler

import (
	"context"
	"log/slog"

	"github.com/bulwark-go/bulwark"
)

// The events of this package, reported to Config.Observer synchronously on
// the goroutine of the copy that caused them, with its context.
var (
	_ bulwark.Event = Mismatch{}
	_ bulwark.Event = ShadowFailed{}
)

// Mismatch is reported for each copy whose answer differed from the legacy
// side's: the statuses and a sample of the first difference ("status:
// legacy 200, new 500", "$.items[0].price: legacy \"10\", new \"12\"", or
// the first differing bytes of a body that is not JSON).
type Mismatch struct {
	Name         string // the Router's Config.Name
	Method, Path string
	LegacyStatus int
	NewStatus    int
	Diff         string
}

func (Mismatch) Kind() string        { return "strangler.mismatch" }
func (e Mismatch) Component() string { return e.Name }
func (e Mismatch) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", e.Method), slog.String("path", e.Path),
		slog.Int("legacy_status", e.LegacyStatus), slog.Int("new_status", e.NewStatus), slog.String("diff", e.Diff))
}

// ShadowFailed is reported for each copy that timed out, was cancelled by
// Close, or whose handler panicked: it was not compared.
type ShadowFailed struct {
	Name         string
	Method, Path string
	Err          error
}

func (ShadowFailed) Kind() string        { return "strangler.shadow_failed" }
func (e ShadowFailed) Component() string { return e.Name }
func (e ShadowFailed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", e.Method), slog.String("path", e.Path), slog.Any("error", e.Err))
}

// observer is a Config.Observer that may be nil.
type observer struct{ o bulwark.Observer }

func (o observer) observe(ctx context.Context, e bulwark.Event) {
	if o.o != nil {
		o.o.Observe(ctx, e)
	}
}
