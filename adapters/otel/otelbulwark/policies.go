package otelbulwark

import (
	"context"
	"time"

	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/fallback"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/timeout"
	"go.opentelemetry.io/otel/metric"
)

// InstrumentRateLimit makes cfg's limiter count the calls it rejects
// (bulwark.ratelimit.rejected_calls) with bulwark.name set to name and, for
// a keyed limiter (instrument its KeyedConfig's Config) with Config.Keys,
// bulwark.key. The hook cfg already has runs after the recording. Counting
// a rejection is one atomic add, read when metrics are collected.
func (t *Telemetry) InstrumentRateLimit(name string, cfg *ratelimit.Config) {
	rejected := t.rejectionTally(t.inst.rlRejected, name)
	onLimited := cfg.OnLimited
	cfg.OnLimited = func(key string, retryAfter time.Duration) {
		rejected(key)
		if onLimited != nil {
			onLimited(key, retryAfter)
		}
	}
}

// InstrumentTimeout makes cfg's timeout count the calls that ran out of
// time (bulwark.timeout.timed_out_calls) with bulwark.name set to name. The
// hook cfg already has runs after the recording.
func (t *Telemetry) InstrumentTimeout(name string, cfg *timeout.Config) {
	opt := fixed(name)
	onTimeout := cfg.OnTimeout
	cfg.OnTimeout = func() {
		t.inst.toTimedOut.Add(background, 1, opt.add...)
		if onTimeout != nil {
			onTimeout()
		}
	}
}

// InstrumentHedge makes cfg's hedger count the attempts it starts after the
// first (bulwark.hedge.hedged_attempts, with bulwark.hedge.attempt, 2 for
// the first hedge) with bulwark.name set to name. The hook cfg already has
// runs after the recording.
func (t *Telemetry) InstrumentHedge(name string, cfg *hedge.Config) {
	var byAttempt [12]fixedAttrs // attempts 2 to 11 (MaxHedges is at most 10)
	for n := 2; n < len(byAttempt); n++ {
		byAttempt[n] = fixed(name, hedgeAttemptKey.Int(n))
	}
	onHedge := cfg.OnHedge
	cfg.OnHedge = func(attempt int, delay time.Duration) {
		opt := fixed(name, hedgeAttemptKey.Int(attempt))
		if attempt >= 2 && attempt < len(byAttempt) {
			opt = byAttempt[attempt]
		}
		t.inst.hedgeAttempts.Add(background, 1, opt.add...)
		if onHedge != nil {
			onHedge(attempt, delay)
		}
	}
}

// ObserveHedger reports the delay h lets an attempt go unanswered before it
// starts another (bulwark.hedge.delay, in seconds) when metrics are
// collected, with bulwark.name set to name: the configured delay, or the
// latency percentile once h has learnt it.
func (t *Telemetry) ObserveHedger(name string, h *hedge.Hedger) (metric.Registration, error) {
	opt := fixed(name)
	in := &t.inst
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveFloat64(in.hedgeDelay, h.Delay().Seconds(), opt.observe...)
		return nil
	}, in.hedgeDelay)
}

// InstrumentFallback makes cfg's fallback count the errors it replaces
// (bulwark.fallback.activations, with the error.type of op's error) with
// bulwark.name set to name. The hook cfg already has runs after the
// recording.
func (t *Telemetry) InstrumentFallback(name string, cfg *fallback.Config) {
	onFallback := cfg.OnFallback
	cfg.OnFallback = func(err error) {
		t.inst.fbActivations.Add(background, 1, metric.WithAttributes(nameKey.String(name),
			errorTypeKey.String(ErrorType(err))))
		if onFallback != nil {
			onFallback(err)
		}
	}
}

// InstrumentChaos makes cfg's injector count the faults it injects
// (bulwark.chaos.faults, with bulwark.chaos.fault "latency", "error" or
// "panic") with bulwark.name set to name. The hook cfg already has runs
// after the recording.
func (t *Telemetry) InstrumentChaos(name string, cfg *chaos.Config) {
	byFault := map[chaos.Fault]fixedAttrs{}
	for _, f := range []chaos.Fault{chaos.FaultLatency, chaos.FaultError, chaos.FaultPanic} {
		byFault[f] = fixed(name, chaosFaultKey.String(f.String()))
	}
	onFault := cfg.OnFault
	cfg.OnFault = func(f chaos.Fault) {
		opt, ok := byFault[f]
		if !ok {
			opt = fixed(name, chaosFaultKey.String(f.String()))
		}
		t.inst.chaosFaults.Add(background, 1, opt.add...)
		if onFault != nil {
			onFault(f)
		}
	}
}
