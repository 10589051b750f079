package otelbulwark

import (
	"context"
	"fmt"

	"github.com/bulwark-go/bulwark/circuitbreaker"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// breakerStates are the states a breaker reports, in the order the state
// gauge lists them.
var breakerStates = [...]circuitbreaker.State{
	circuitbreaker.StateClosed, circuitbreaker.StateHalfOpen, circuitbreaker.StateOpen,
	circuitbreaker.StateForcedOpen, circuitbreaker.StateDisabled,
}

// breakerOptions are one breaker's attribute sets, alone and per state,
// made once so that observing its gauges allocates nothing.
type breakerOptions struct {
	byState  [len(breakerStates)]fixedAttrs
	nameOnly fixedAttrs
}

func newBreakerOptions(name string) *breakerOptions {
	o := &breakerOptions{nameOnly: fixed(name)}
	for i, s := range breakerStates {
		o.byState[i] = fixed(name, cbStateKey.String(s.String()))
	}
	return o
}

// rejections are the tallies of one breaker's rejections, per state.
type rejections struct {
	ts      *tallies
	name    string
	byState [len(breakerStates)]*tally
	keyed   [len(breakerStates)]*keyedTallies // with Config.Keys
}

func (t *Telemetry) newRejections(name string) *rejections {
	r := &rejections{ts: t.inst.cbRejected, name: name}
	for i, s := range breakerStates {
		r.byState[i] = r.ts.add(name, cbStateKey.String(s.String()))
		r.keyed[i] = &keyedTallies{ts: r.ts, name: name, more: []attribute.KeyValue{cbStateKey.String(s.String())}}
	}
	return r
}

// count counts a rejection in state s, under key when it is not empty.
func (r *rejections) count(s circuitbreaker.State, key string) {
	if int(s) >= len(breakerStates) || breakerStates[s] != s {
		r.ts.add(r.name, cbStateKey.String(s.String())).inc() // a state this package does not know yet
		return
	}
	if key != "" {
		r.keyed[s].get(key).inc()
		return
	}
	r.byState[s].inc()
}

// InstrumentBreaker makes cfg's breaker count its changes of state
// (bulwark.circuitbreaker.transitions, with the new and previous state) and
// its rejections (bulwark.circuitbreaker.rejected_calls, with the state that
// rejected), each with bulwark.name set to name. The hooks cfg already has
// run after the recording. A breaker's success path is untouched: the hooks
// fire only on changes and rejections. Counting a rejection (which an open
// breaker may do at request rate) is one atomic add, read when metrics are
// collected.
func (t *Telemetry) InstrumentBreaker(name string, cfg *circuitbreaker.Config) {
	rejected := t.newRejections(name)
	onChange, onReject := cfg.OnStateChange, cfg.OnReject
	cfg.OnStateChange = func(c circuitbreaker.StateChange) {
		t.countTransition(name, "", c)
		if onChange != nil {
			onChange(c)
		}
	}
	cfg.OnReject = func(e *circuitbreaker.OpenError) {
		rejected.count(e.State, "")
		if onReject != nil {
			onReject(e)
		}
	}
}

func (t *Telemetry) countTransition(name, key string, c circuitbreaker.StateChange) {
	attrs := []attribute.KeyValue{nameKey.String(name),
		cbStateKey.String(c.To.String()), cbPreviousStateKey.String(c.From.String())}
	if t.keys && key != "" {
		attrs = append(attrs, keyKey.String(key))
	}
	t.inst.cbTransitions.Add(background, 1, metric.WithAttributes(attrs...))
}

// InstrumentKeyedBreaker instruments a keyed breaker's configuration as
// InstrumentBreaker does a breaker's, through its keyed hooks (leave
// cfg.Breaker alone: a keyed breaker's Config takes no hooks); with
// Config.Keys the key (formatted with fmt.Sprint) is recorded as
// bulwark.key.
func InstrumentKeyedBreaker[K comparable](t *Telemetry, name string, cfg *circuitbreaker.KeyedConfig[K]) {
	rejected := t.newRejections(name)
	onChange, onReject := cfg.OnStateChange, cfg.OnReject
	cfg.OnStateChange = func(key K, c circuitbreaker.StateChange) {
		t.countTransition(name, t.keyString(key), c)
		if onChange != nil {
			onChange(key, c)
		}
	}
	cfg.OnReject = func(key K, e *circuitbreaker.OpenError) {
		rejected.count(e.State, t.keyString(key))
		if onReject != nil {
			onReject(key, e)
		}
	}
}

// keyString formats key for bulwark.key, or returns "" when keys are not
// recorded.
func (t *Telemetry) keyString(key any) string {
	if !t.keys {
		return ""
	}
	if s, ok := key.(string); ok {
		return s
	}
	return fmt.Sprint(key)
}

// ObserveBreaker reports b's state when metrics are collected:
// bulwark.circuitbreaker.state (1 for the state b is in, 0 for the other
// four, in the attribute bulwark.circuitbreaker.state) and the failure and
// slow-call rates of its window (bulwark.circuitbreaker.failure_rate and
// slow_call_rate, from 0 to 1), with bulwark.name set to name. Unregister the
// returned registration when b is no longer used.
func (t *Telemetry) ObserveBreaker(name string, b *circuitbreaker.Breaker) (metric.Registration, error) {
	opts := newBreakerOptions(name)
	in := &t.inst
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		m := b.Metrics()
		for i, s := range breakerStates {
			var v int64
			if s == m.State {
				v = 1
			}
			o.ObserveInt64(in.cbState, v, opts.byState[i].observe...)
		}
		o.ObserveFloat64(in.cbFailureRate, m.FailureRate/100, opts.nameOnly.observe...)
		o.ObserveFloat64(in.cbSlowCallRate, m.SlowCallRate/100, opts.nameOnly.observe...)
		return nil
	}, in.cbState, in.cbFailureRate, in.cbSlowCallRate)
}

// ObserveKeyedBreaker reports a keyed breaker's set when metrics are
// collected: the breakers it holds (bulwark.circuitbreaker.keyed.breakers),
// how many of them reject calls (open_breakers), and the running counts of
// suppressed trips and evictions, with bulwark.name set to name.
func ObserveKeyedBreaker[K comparable](t *Telemetry, name string, k *circuitbreaker.Keyed[K]) (metric.Registration, error) {
	opt := fixed(name)
	in := &t.inst
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		m := k.Metrics()
		o.ObserveInt64(in.cbKeys, int64(m.Keys), opt.observe...)
		o.ObserveInt64(in.cbOpenKeys, int64(m.Open), opt.observe...)
		o.ObserveInt64(in.cbSuppressedTrips, int64(m.SuppressedTrips), opt.observe...)
		o.ObserveInt64(in.cbEvictions, int64(m.Evictions), opt.observe...)
		return nil
	}, in.cbKeys, in.cbOpenKeys, in.cbSuppressedTrips, in.cbEvictions)
}
