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

// breakerRejected counts a rejection in bulwark.circuitbreaker.rejected_calls
// under the state that rejected: one atomic add once the series exists.
func (t *Telemetry) breakerRejected(e circuitbreaker.Rejected) {
	s := series{name: e.Name, key: t.keyString(e.Key)}
	if e.Err != nil {
		s.label = e.Err.State.String()
	}
	t.inst.cbRejected.inc(s)
}

// breakerChanged counts a change of state in
// bulwark.circuitbreaker.transitions.
func (t *Telemetry) breakerChanged(ctx context.Context, e circuitbreaker.StateChange) {
	attrs := []attribute.KeyValue{cbStateKey.String(e.To.String()), cbPreviousStateKey.String(e.From.String())}
	if key := t.keyString(e.Key); key != "" {
		attrs = append(attrs, keyKey.String(key))
	}
	t.inst.cbTransitions.Add(ctx, 1, with(e.Name, attrs...))
}

// keyString formats a keyed component's key for bulwark.key (with
// fmt.Sprint unless it is a string), or returns "" when keys are not
// recorded or there is none.
func (t *Telemetry) keyString(key any) string {
	if !t.keys || key == nil {
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
// slow_call_rate, from 0 to 1), with bulwark.name set to name (its
// Config.Name, say). Unregister the returned registration when b is no
// longer used.
func (t *Telemetry) ObserveBreaker(name string, b *circuitbreaker.Breaker) (metric.Registration, error) {
	t.check()
	var byState [len(breakerStates)][]metric.ObserveOption
	for i, s := range breakerStates {
		byState[i] = observeOptions(name, cbStateKey.String(s.String()))
	}
	opt := observeOptions(name)
	in := &t.inst
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		m := b.Metrics()
		for i, s := range breakerStates {
			var v int64
			if s == m.State {
				v = 1
			}
			o.ObserveInt64(in.cbState, v, byState[i]...)
		}
		o.ObserveFloat64(in.cbFailureRate, m.FailureRate/100, opt...)
		o.ObserveFloat64(in.cbSlowCallRate, m.SlowCallRate/100, opt...)
		return nil
	}, in.cbState, in.cbFailureRate, in.cbSlowCallRate)
}

// ObserveKeyedBreaker reports a keyed breaker's set when metrics are
// collected: the breakers it holds (bulwark.circuitbreaker.keyed.breakers),
// how many of them reject calls (open_breakers), and the running counts of
// suppressed trips and evictions, with bulwark.name set to name.
// Unregister the returned registration when k is no longer used.
func ObserveKeyedBreaker[K comparable](t *Telemetry, name string, k *circuitbreaker.Keyed[K]) (metric.Registration, error) {
	t.check()
	opt := observeOptions(name)
	in := &t.inst
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		m := k.Metrics()
		o.ObserveInt64(in.cbKeys, int64(m.Keys), opt...)
		o.ObserveInt64(in.cbOpenKeys, int64(m.Open), opt...)
		o.ObserveInt64(in.cbSuppressedTrips, int64(m.SuppressedTrips), opt...)
		o.ObserveInt64(in.cbEvictions, int64(m.Evictions), opt...)
		return nil
	}, in.cbKeys, in.cbOpenKeys, in.cbSuppressedTrips, in.cbEvictions)
}
