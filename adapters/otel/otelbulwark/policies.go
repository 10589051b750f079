package otelbulwark

import (
	"context"

	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/fallback"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/timeout"
	"go.opentelemetry.io/otel/metric"
)

// rateLimitRejected counts a rejection in bulwark.ratelimit.rejected_calls:
// one atomic add once the series exists.
func (t *Telemetry) rateLimitRejected(e ratelimit.Rejected) {
	s := series{name: e.Name}
	if t.keys {
		s.key = e.Key
	}
	t.inst.rlRejected.inc(s)
}

// timedOut counts a call that ran out of time in
// bulwark.timeout.timed_out_calls.
func (t *Telemetry) timedOut(ctx context.Context, e timeout.TimedOut) {
	t.inst.toTimedOut.Add(ctx, 1, with(e.Name))
}

// hedged counts an attempt started after the first in
// bulwark.hedge.hedged_attempts, with its number.
func (t *Telemetry) hedged(ctx context.Context, e hedge.Hedged) {
	t.inst.hedgeAttempts.Add(ctx, 1, with(e.Name, hedgeAttemptKey.Int(e.Attempt)))
}

// ObserveHedger reports the delay h lets an attempt go unanswered before it
// starts another (bulwark.hedge.delay, in seconds) when metrics are
// collected, with bulwark.name set to name: the configured delay, or the
// latency percentile once h has learnt it. Unregister the returned
// registration when h is no longer used.
func (t *Telemetry) ObserveHedger(name string, h *hedge.Hedger) (metric.Registration, error) {
	t.check()
	opt := observeOptions(name)
	in := &t.inst
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveFloat64(in.hedgeDelay, h.Delay().Seconds(), opt...)
		return nil
	}, in.hedgeDelay)
}

// fellBack counts an error a fallback replaced in
// bulwark.fallback.activations, with its error.type.
func (t *Telemetry) fellBack(ctx context.Context, e fallback.FellBack) {
	t.inst.fbActivations.Add(ctx, 1, with(e.Name, errorTypeKey.String(ErrorType(e.Err))))
}

// injected counts an injected fault in bulwark.chaos.faults, by fault.
func (t *Telemetry) injected(ctx context.Context, e chaos.Injected) {
	t.inst.chaosFaults.Add(ctx, 1, with(e.Name, chaosFaultKey.String(e.Fault.String())))
}
