// Package otelbulwark records bulwark's patterns in OpenTelemetry: metrics
// from every pattern's hooks and state, a tracing policy, and trace context
// carried through outbox messages from the transaction that enqueued them to
// their consumer.
//
// Make one Telemetry per process and instrument each pattern's Config with
// it before New; then register the gauges that read the pattern's state:
//
//	tel, err := otelbulwark.New(otelbulwark.Config{MeterProvider: mp, TracerProvider: tp})
//	cfg := circuitbreaker.DefaultConfig()
//	tel.InstrumentBreaker("inventory", &cfg) // chains to cfg's own hooks
//	breaker, err := circuitbreaker.New(cfg)
//	reg, err := tel.ObserveBreaker("inventory", breaker)
//	defer reg.Unregister()
//	policy := bulwark.Chain(tel.Trace("inventory"), retrier, tel.TraceAttempts(), breaker)
//
// Nothing in bulwark's core changes, and an instrumented pattern's success
// path is untouched: the hooks fire on changes, retries and rejections
// only. Rejections, which an open breaker, a full bulkhead or a rate limit
// may count at request rate, are one atomic add each, read when metrics
// are collected; other measurements go straight to OpenTelemetry's
// instruments. Hooks carry no context, so their measurements carry none (no
// exemplars).
//
// # Metrics
//
// Every metric has bulwark.name, the name given when instrumenting. Keyed
// patterns add bulwark.key when Config.Keys is set. error.type is the value
// ErrorType gives.
//
//	bulwark.circuitbreaker.state             gauge {state}      1 for the current bulwark.circuitbreaker.state, 0 for the others
//	bulwark.circuitbreaker.failure_rate      gauge 1            failures / calls in the window
//	bulwark.circuitbreaker.slow_call_rate    gauge 1            slow calls / calls in the window
//	bulwark.circuitbreaker.transitions       counter            bulwark.circuitbreaker.state, .previous_state
//	bulwark.circuitbreaker.rejected_calls    counter            bulwark.circuitbreaker.state (the rejecting one)
//	bulwark.circuitbreaker.keyed.breakers, .open_breakers       gauges of a keyed breaker's set
//	bulwark.circuitbreaker.keyed.suppressed_trips, .evictions   counters of a keyed breaker's set
//	bulwark.retry.retries                    counter            bulwark.retry.attempt (1-10, 10 = 10 or later), error.type
//	bulwark.retry.give_ups                   counter            bulwark.retry.reason, error.type
//	bulwark.bulkhead.rejected_calls          counter
//	bulwark.bulkhead.limit_changes           counter            bulwark.bulkhead.direction: increase, decrease
//	bulwark.bulkhead.active_calls, .queued_calls, .limit        up-down counters {call}
//	bulwark.ratelimit.rejected_calls         counter
//	bulwark.timeout.timed_out_calls          counter
//	bulwark.hedge.hedged_attempts            counter            bulwark.hedge.attempt (2 for the first hedge)
//	bulwark.hedge.delay                      gauge s
//	bulwark.fallback.activations             counter            error.type
//	bulwark.chaos.faults                     counter            bulwark.chaos.fault: latency, error, panic
//	bulwark.outbox.published_messages        counter            messaging.destination.name
//	bulwark.outbox.retried_messages          counter            messaging.destination.name, error.type
//	bulwark.outbox.dead_lettered_messages    counter            messaging.destination.name, error.type
//	bulwark.outbox.publish_lag               histogram s        messaging.destination.name; CreatedAt to recorded publication
//	bulwark.outbox.backlog, .dead_letters    gauges {message}
//	bulwark.outbox.lag                       gauge s            age of the oldest unpublished message
//	bulwark.saga.step.duration               histogram s        bulwark.saga.step, bulwark.saga.compensation, error.type on failure
//	bulwark.saga.compensations               counter            error.type of the cause
//	bulwark.saga.outcomes                    counter            bulwark.saga.status
//	bulwark.saga.needs_attention             gauge {saga}
//	bulwark.idempotency.replays, .takeovers, .duplicates        counters
//	bulwark.eventsource.retries              counter            error.type
//	bulwark.eventsource.snapshot_errors      counter
//	bulwark.eventsource.subscription.position gauge {event}     recorded when the subscription catches up
//
// # Traces
//
// Trace wraps calls in spans that say why a call failed (error.type,
// bulwark.rejected for a policy's refusal, bulwark.retry_after);
// TraceAttempts, inside a retry or hedge, adds an event per failed attempt.
//
// For the outbox, Inject writes the trace context into a message's headers
// (MessageCarrier) before it is enqueued; TracePublisher publishes it in a
// producer span that continues that trace and passes its own context on to
// the broker; Consume runs the consumer's handler in a consumer span, child
// of the publish span. One trace then spans the request, the commit, the
// relay, the broker and the consumer.
package otelbulwark
