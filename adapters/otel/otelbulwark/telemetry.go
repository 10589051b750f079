package otelbulwark

import (
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the meter and tracer a
// Telemetry uses.
const ScopeName = "github.com/bulwark-go/bulwark/adapters/otel/otelbulwark"

// Config configures a Telemetry. The zero Config (DefaultConfig) uses
// OpenTelemetry's global providers and propagator.
type Config struct {
	// MeterProvider makes the meter every instrument is created with; nil
	// means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// TracerProvider makes the tracer of Trace, TracePublisher and Consume;
	// nil means otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// Propagator writes trace context into outbox messages and reads it
	// back; nil means otel.GetTextMapPropagator(), which propagates nothing
	// until otel.SetTextMapPropagator is called (with
	// propagation.TraceContext{}, say).
	Propagator propagation.TextMapPropagator
	// Keys adds the key of keyed patterns (keyed breakers, bulkheads and
	// rate limiters, bulwarkhttp's RateLimiter) to their metrics as the
	// bulwark.key attribute. Off by default: keys such as clients or
	// tenants are often unbounded, and each key becomes a series of its
	// own, kept for the life of the Telemetry.
	Keys bool
	// Clock reads the time at which an outbox message's publication is
	// recorded, for bulwark.outbox.publish_lag; give it the relay's clock.
	// Nil means clock.System.
	Clock clock.Clock
}

// DefaultConfig returns a Config that uses the global providers and
// propagator, the system clock, and leaves keys out of metrics.
func DefaultConfig() Config { return Config{} }

// Telemetry records bulwark's patterns in OpenTelemetry. Make one per
// process (or per provider) and give it to every component as its
// Config.Observer, beside any observer of your own:
//
//	cfg.Observer = bulwark.Observers(tel, mine)
//
// Its instruments are created once, in New, and shared by every component
// it observes; a component's events are recorded under bulwark.name, its
// Config.Name. It is safe for concurrent use. Make one with New: every
// method of the zero Telemetry panics.
//
// The Observe methods with a second argument (ObserveBreaker,
// ObserveBulkhead, …) register callbacks that read a component's state when
// metrics are collected; unregister them when the component goes away.
type Telemetry struct {
	meter      metric.Meter
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	clock      clock.Clock
	keys       bool
	inst       instruments
}

var _ bulwark.Observer = (*Telemetry)(nil)

// check panics if t was not made by New.
func (t *Telemetry) check() {
	if t == nil || t.meter == nil {
		panic("otelbulwark: Telemetry used without New")
	}
}

// New returns a Telemetry whose instruments are created on cfg's meter
// provider, or the error the meter returned for one of them.
func New(cfg Config) (*Telemetry, error) {
	mp := cfg.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	tp := cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	prop := cfg.Propagator
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	t := &Telemetry{
		meter:      mp.Meter(ScopeName),
		tracer:     tp.Tracer(ScopeName),
		propagator: prop,
		clock:      clock.OrSystem(cfg.Clock),
		keys:       cfg.Keys,
	}
	if err := t.inst.create(t.meter); err != nil {
		return nil, fmt.Errorf("otelbulwark: creating instruments: %w", err)
	}
	if err := t.observeTallies(t.inst.cbRejected, t.inst.bhRejected, t.inst.rlRejected,
		t.inst.httpShed, t.inst.httpLimited); err != nil {
		return nil, fmt.Errorf("otelbulwark: registering the rejection counters: %w", err)
	}
	return t, nil
}

// instrumentMaker creates instruments and collects their errors.
type instrumentMaker struct {
	m    metric.Meter
	errs []error
}

func (mk *instrumentMaker) counter(name, unit, desc string) metric.Int64Counter {
	c, err := mk.m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	mk.errs = append(mk.errs, err)
	return c
}

func (mk *instrumentMaker) tallied(name, unit, desc string, label attribute.Key) *tallies {
	return &tallies{inst: mk.observedCounter(name, unit, desc), labelKey: label}
}

func (mk *instrumentMaker) upDown(name, unit, desc string) metric.Int64ObservableUpDownCounter {
	c, err := mk.m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	mk.errs = append(mk.errs, err)
	return c
}

func (mk *instrumentMaker) observedCounter(name, unit, desc string) metric.Int64ObservableCounter {
	c, err := mk.m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	mk.errs = append(mk.errs, err)
	return c
}

func (mk *instrumentMaker) intGauge(name, unit, desc string) metric.Int64ObservableGauge {
	g, err := mk.m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
	mk.errs = append(mk.errs, err)
	return g
}

func (mk *instrumentMaker) floatGauge(name, unit, desc string) metric.Float64ObservableGauge {
	g, err := mk.m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
	mk.errs = append(mk.errs, err)
	return g
}

func (mk *instrumentMaker) recordedGauge(name, unit, desc string) metric.Int64Gauge {
	g, err := mk.m.Int64Gauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
	mk.errs = append(mk.errs, err)
	return g
}

func (mk *instrumentMaker) seconds(name, desc string, bounds []float64) metric.Float64Histogram {
	h, err := mk.m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(bounds...))
	mk.errs = append(mk.errs, err)
	return h
}

// Bucket boundaries, in seconds: durations of saga steps, and the longer
// delays of messages waiting in an outbox.
var (
	durationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	lagBounds      = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
)

// instruments are every instrument a Telemetry records with.
type instruments struct {
	cbState, cbKeys, cbOpenKeys                metric.Int64ObservableGauge
	cbFailureRate, cbSlowCallRate              metric.Float64ObservableGauge
	cbTransitions                              metric.Int64Counter
	cbRejected, bhRejected, rlRejected         *tallies
	cbSuppressedTrips, cbEvictions             metric.Int64ObservableCounter
	retryRetries, retryGiveUps, retryDead      metric.Int64Counter
	bhLimitChanges                             metric.Int64Counter
	bhActive, bhQueued, bhLimit                metric.Int64ObservableUpDownCounter
	toTimedOut                                 metric.Int64Counter
	hedgeAttempts                              metric.Int64Counter
	hedgeDelay                                 metric.Float64ObservableGauge
	fbActivations                              metric.Int64Counter
	chaosFaults                                metric.Int64Counter
	obPublished, obRetried, obDeadLettered     metric.Int64Counter
	cmFailed, cmRedelivered, cmDeadLettered    metric.Int64Counter
	cmReleased, cmDropped                      metric.Int64Counter
	obPublishLag                               metric.Float64Histogram
	obBacklog, obDeadLetters                   metric.Int64ObservableGauge
	obLag                                      metric.Float64ObservableGauge
	sagaStepDuration                           metric.Float64Histogram
	sagaCompensations, sagaOutcomes            metric.Int64Counter
	sagaNeedsAttention                         metric.Int64ObservableGauge
	idemReplays, idemTakeovers, idemDuplicates metric.Int64Counter
	esRetries, esSnapshotErrors                metric.Int64Counter
	esPosition                                 metric.Int64Gauge
	cqrsApplied, cqrsFailed, cqrsSwitches      metric.Int64Counter
	cqrsPosition                               metric.Int64Gauge
	httpShed, httpLimited                      *tallies
	httpLimiterErrors                          metric.Int64Counter
}

func (in *instruments) create(m metric.Meter) error {
	mk := &instrumentMaker{m: m}

	in.cbState = mk.intGauge("bulwark.circuitbreaker.state", "{state}",
		"1 for the state a circuit breaker is in (attribute bulwark.circuitbreaker.state), 0 for the others.")
	in.cbFailureRate = mk.floatGauge("bulwark.circuitbreaker.failure_rate", "1",
		"Share of the calls in a circuit breaker's window that failed, from 0 to 1.")
	in.cbSlowCallRate = mk.floatGauge("bulwark.circuitbreaker.slow_call_rate", "1",
		"Share of the calls in a circuit breaker's window that were slow, from 0 to 1.")
	in.cbTransitions = mk.counter("bulwark.circuitbreaker.transitions", "{transition}",
		"Changes of state of circuit breakers.")
	in.cbRejected = mk.tallied("bulwark.circuitbreaker.rejected_calls", "{call}",
		"Calls a circuit breaker rejected (in dry-run mode: would have rejected).", cbStateKey)
	in.cbKeys = mk.intGauge("bulwark.circuitbreaker.keyed.breakers", "{breaker}",
		"Breakers a keyed circuit breaker holds.")
	in.cbOpenKeys = mk.intGauge("bulwark.circuitbreaker.keyed.open_breakers", "{breaker}",
		"Breakers of a keyed circuit breaker that are open, half-open or forced open.")
	in.cbSuppressedTrips = mk.observedCounter("bulwark.circuitbreaker.keyed.suppressed_trips", "{trip}",
		"Trips a keyed circuit breaker's MaxOpenPercent held back.")
	in.cbEvictions = mk.observedCounter("bulwark.circuitbreaker.keyed.evictions", "{breaker}",
		"Breakers a keyed circuit breaker dropped to stay within MaxKeys.")

	in.retryRetries = mk.counter("bulwark.retry.retries", "{retry}",
		"Failed attempts a retrier is about to retry.")
	in.retryGiveUps = mk.counter("bulwark.retry.give_ups", "{call}",
		"Calls a retrier gave up on, by reason.")
	in.retryDead = mk.counter("bulwark.retry.dead_letters", "{message}",
		"Messages a retry handler gave up on and its sink stored.")

	in.bhRejected = mk.tallied("bulwark.bulkhead.rejected_calls", "{call}",
		"Calls a bulkhead rejected because it was full.", "")
	in.bhLimitChanges = mk.counter("bulwark.bulkhead.limit_changes", "{change}",
		"Changes of an adaptive bulkhead's limit.")
	in.bhActive = mk.upDown("bulwark.bulkhead.active_calls", "{call}",
		"Calls holding a bulkhead permit.")
	in.bhQueued = mk.upDown("bulwark.bulkhead.queued_calls", "{call}",
		"Calls waiting for a bulkhead permit.")
	in.bhLimit = mk.upDown("bulwark.bulkhead.limit", "{call}",
		"The most calls a bulkhead lets run at once.")

	in.rlRejected = mk.tallied("bulwark.ratelimit.rejected_calls", "{call}",
		"Calls a rate limiter rejected.", "")
	in.toTimedOut = mk.counter("bulwark.timeout.timed_out_calls", "{call}",
		"Calls that ran out of time.")
	in.hedgeAttempts = mk.counter("bulwark.hedge.hedged_attempts", "{attempt}",
		"Attempts a hedger started after the first.")
	in.hedgeDelay = mk.floatGauge("bulwark.hedge.delay", "s",
		"How long a hedger lets an attempt go unanswered before it starts another.")
	in.fbActivations = mk.counter("bulwark.fallback.activations", "{call}",
		"Errors a fallback replaced with its alternative.")
	in.chaosFaults = mk.counter("bulwark.chaos.faults", "{fault}",
		"Faults a chaos injector injected.")

	in.obPublished = mk.counter("bulwark.outbox.published_messages", "{message}",
		"Outbox messages published and recorded as such.")
	in.obRetried = mk.counter("bulwark.outbox.retried_messages", "{message}",
		"Failed publishes of outbox messages that will be retried.")
	in.obDeadLettered = mk.counter("bulwark.outbox.dead_lettered_messages", "{message}",
		"Outbox messages moved to the dead letters.")
	in.obPublishLag = mk.seconds("bulwark.outbox.publish_lag",
		"Time from an outbox message's CreatedAt to its publication being recorded.", lagBounds)
	in.obBacklog = mk.intGauge("bulwark.outbox.backlog", "{message}",
		"Outbox messages not yet published.")
	in.obLag = mk.floatGauge("bulwark.outbox.lag", "s",
		"Age of the oldest outbox message not yet published; 0 with no backlog.")
	in.obDeadLetters = mk.intGauge("bulwark.outbox.dead_letters", "{message}",
		"Outbox dead letters waiting for Replay or Discard.")

	in.cmFailed = mk.counter("bulwark.consume.failed_runs", "{run}",
		"Handler runs of consumed messages that failed (not counting shutdowns).")
	in.cmRedelivered = mk.counter("bulwark.consume.redelivered_messages", "{message}",
		"Failed consumed messages set to be delivered again later.")
	in.cmDeadLettered = mk.counter("bulwark.consume.dead_lettered_messages", "{message}",
		"Consumed messages stored as dead letters and acknowledged.")
	in.cmReleased = mk.counter("bulwark.consume.released_messages", "{message}",
		"Consumed messages given back unsettled at a shutdown.")
	in.cmDropped = mk.counter("bulwark.consume.dropped_messages", "{message}",
		"Consumed messages that could not be settled (their delivery was gone).")

	in.sagaStepDuration = mk.seconds("bulwark.saga.step.duration",
		"Duration of saga step invocations (actions and compensations).", durationBounds)
	in.sagaCompensations = mk.counter("bulwark.saga.compensations", "{saga}",
		"Sagas that started compensating.")
	in.sagaOutcomes = mk.counter("bulwark.saga.outcomes", "{saga}",
		"Sagas that reached a terminal status.")
	in.sagaNeedsAttention = mk.intGauge("bulwark.saga.needs_attention", "{saga}",
		"Sagas waiting for an operator to Resume or Abandon them.")

	in.idemReplays = mk.counter("bulwark.idempotency.replays", "{request}",
		"Requests answered with a stored outcome.")
	in.idemTakeovers = mk.counter("bulwark.idempotency.takeovers", "{request}",
		"Requests that took over a key whose holder's lease ran out.")
	in.idemDuplicates = mk.counter("bulwark.idempotency.duplicates", "{message}",
		"Messages an inbox skipped as already processed.")

	in.esRetries = mk.counter("bulwark.eventsource.retries", "{retry}",
		"Commands an event-sourced repository tried again after a conflict or an unknown outcome.")
	in.esSnapshotErrors = mk.counter("bulwark.eventsource.snapshot_errors", "{error}",
		"Snapshots that could not be loaded or saved.")
	in.esPosition = mk.recordedGauge("bulwark.eventsource.subscription.position", "{event}",
		"Global position of the last event a subscription handled, when it caught up.")

	in.cqrsApplied = mk.counter("bulwark.cqrs.applied_events", "{event}",
		"Events a projection's handler applied, in committed batches.")
	in.cqrsFailed = mk.counter("bulwark.cqrs.failed_events", "{try}",
		"Failed tries of an event by a projection's handler, by what the projector did next.")
	in.cqrsSwitches = mk.counter("bulwark.cqrs.switches", "{switch}",
		"Versions of a projection that caught up and became live.")
	in.cqrsPosition = mk.recordedGauge("bulwark.cqrs.position", "{event}",
		"Global position of a projection's checkpoint, after each batch.")

	in.httpShed = mk.tallied("bulwark.http.shed_requests", "{request}",
		"Requests a bulwarkhttp Shedder rejected, by the error.type of its policy's refusal.", errorTypeKey)
	in.httpLimited = mk.tallied("bulwark.http.limited_requests", "{request}",
		"Requests a bulwarkhttp RateLimiter rejected because their client was over its limit.", "")
	in.httpLimiterErrors = mk.counter("bulwark.http.limiter_errors", "{request}",
		"Requests whose bulwarkhttp RateLimiter could not reach its limiter.")

	return errors.Join(mk.errs...)
}
