// Package otelbulwark records bulwark's components in OpenTelemetry: a
// bulwark.Observer that turns every component's events into metrics and
// span events, gauges that read a component's state, a tracing policy, and
// trace context carried through outbox messages from the transaction that
// enqueued them to their consumer.
//
// Make one Telemetry per process and give it to each component as its
// Config.Observer (beside observers of your own, with bulwark.Observers);
// the component's Config.Name becomes the bulwark.name of what it records.
// Then register the gauges that read the component's state:
//
//	tel, err := otelbulwark.New(otelbulwark.Config{MeterProvider: mp, TracerProvider: tp})
//	breaker, err := circuitbreaker.New(circuitbreaker.Config{
//		Name:     "inventory",
//		Observer: bulwark.Observers(tel, bulwark.LogEvents(logger, slog.LevelInfo)),
//	})
//	reg, err := tel.ObserveBreaker("inventory", breaker)
//	defer reg.Unregister()
//	policy := bulwark.Chain(tel.Trace("inventory"), retrier, tel.TraceAttempts(), breaker)
//
// A component's success path is untouched: components report events on
// changes, retries and rejections only. Rejections, which an open breaker,
// a full bulkhead or a rate limit may report at request rate, cost
// Observe one atomic add and no allocation once their series exists; they
// are read when metrics are collected. Every other measurement is made
// with the context Observe is given, the context of the work that caused
// the event (the caller's, for a policy): an SDK that keeps exemplars (by
// default, for sampled spans) links the measurement to that trace.
// Rejection counts, read at collection, carry no exemplar.
//
// # Metrics
//
// Every metric has bulwark.name: the component's Config.Name for those
// recorded from events (unnamed components share bulwark.name=""), the name
// given to the Observe method for gauges. Keyed components add bulwark.key
// when Config.Keys is set. error.type is the value ErrorType gives.
//
//	bulwark.circuitbreaker.state                  gauge {state}           1 for the current bulwark.circuitbreaker.state, 0 for the others (ObserveBreaker)
//	bulwark.circuitbreaker.failure_rate           gauge 1                 failures / calls in the window (ObserveBreaker)
//	bulwark.circuitbreaker.slow_call_rate         gauge 1                 slow calls / calls in the window (ObserveBreaker)
//	bulwark.circuitbreaker.transitions            counter {transition}    bulwark.circuitbreaker.state, .previous_state
//	bulwark.circuitbreaker.rejected_calls         counter {call}          bulwark.circuitbreaker.state (the rejecting one); with DryRun, calls it would have rejected
//	bulwark.circuitbreaker.keyed.breakers         gauge {breaker}         breakers a keyed set holds (ObserveKeyedBreaker)
//	bulwark.circuitbreaker.keyed.open_breakers    gauge {breaker}         of them, open, half-open or forced open (ObserveKeyedBreaker)
//	bulwark.circuitbreaker.keyed.suppressed_trips counter {trip}          trips MaxOpenPercent held back (ObserveKeyedBreaker)
//	bulwark.circuitbreaker.keyed.evictions        counter {breaker}       breakers dropped to stay within MaxKeys (ObserveKeyedBreaker)
//	bulwark.retry.retries                         counter {retry}         bulwark.retry.attempt (1-10, 10 = 10 or later), error.type
//	bulwark.retry.give_ups                        counter {call}          bulwark.retry.reason, error.type
//	bulwark.retry.dead_letters                    counter {message}       error.type; messages a retry.Handler's sink stored
//	bulwark.bulkhead.rejected_calls               counter {call}
//	bulwark.bulkhead.limit_changes                counter {change}        bulwark.bulkhead.direction: increase, decrease
//	bulwark.bulkhead.active_calls                 up-down counter {call}  (ObserveBulkhead)
//	bulwark.bulkhead.queued_calls                 up-down counter {call}  (ObserveBulkhead)
//	bulwark.bulkhead.limit                        up-down counter {call}  (ObserveBulkhead)
//	bulwark.ratelimit.rejected_calls              counter {call}
//	bulwark.timeout.timed_out_calls               counter {call}
//	bulwark.hedge.hedged_attempts                 counter {attempt}       bulwark.hedge.attempt (2 for the first hedge)
//	bulwark.hedge.delay                           gauge s                 (ObserveHedger)
//	bulwark.fallback.activations                  counter {call}          error.type
//	bulwark.chaos.faults                          counter {fault}         bulwark.chaos.fault: latency, error, panic
//	bulwark.outbox.published_messages             counter {message}       messaging.destination.name
//	bulwark.outbox.retried_messages               counter {message}       messaging.destination.name, error.type
//	bulwark.outbox.dead_lettered_messages         counter {message}       messaging.destination.name, error.type
//	bulwark.outbox.publish_lag                    histogram s             messaging.destination.name; CreatedAt to recorded publication, on Config.Clock
//	bulwark.outbox.backlog                        gauge {message}         (ObserveRelay)
//	bulwark.outbox.lag                            gauge s                 age of the oldest unpublished message (ObserveRelay)
//	bulwark.outbox.dead_letters                   gauge {message}         (ObserveRelay)
//	bulwark.consume.failed_runs                   counter {run}           messaging.destination.name, error.type
//	bulwark.consume.redelivered_messages          counter {message}       messaging.destination.name, bulwark.consume.in_process
//	bulwark.consume.dead_lettered_messages        counter {message}       messaging.destination.name, error.type
//	bulwark.consume.released_messages             counter {message}       messaging.destination.name
//	bulwark.consume.dropped_messages              counter {message}       messaging.destination.name, error.type
//	bulwark.saga.step.duration                    histogram s             bulwark.saga.step, bulwark.saga.compensation, error.type on failure
//	bulwark.saga.compensations                    counter {saga}          error.type of the cause
//	bulwark.saga.outcomes                         counter {saga}          bulwark.saga.status
//	bulwark.saga.needs_attention                  gauge {saga}            (ObserveSagas)
//	bulwark.idempotency.replays                   counter {request}
//	bulwark.idempotency.takeovers                 counter {request}
//	bulwark.idempotency.duplicates                counter {message}
//	bulwark.eventsource.retries                   counter {retry}         error.type
//	bulwark.eventsource.snapshot_errors           counter {error}
//	bulwark.eventsource.subscription.position     gauge {event}           recorded when the subscription catches up
//	bulwark.cqrs.applied_events                   counter {event}         bulwark.cqrs.projection, bulwark.cqrs.version
//	bulwark.cqrs.failed_events                    counter {try}           bulwark.cqrs.projection, .version, error.type, bulwark.cqrs.action: retry, park, skip
//	bulwark.cqrs.switches                         counter {switch}        bulwark.cqrs.projection, .version (the one now live)
//	bulwark.cqrs.position                         gauge {event}           bulwark.cqrs.projection, .version; recorded after each batch and on catching up
//	bulwark.http.shed_requests                    counter {request}       error.type of the policy's refusal (bulwarkhttp.Shedder)
//	bulwark.http.limited_requests                 counter {request}       (bulwarkhttp.RateLimiter)
//	bulwark.http.limiter_errors                   counter {request}       error.type (bulwarkhttp.RateLimiter)
//
// Only the events named above are recorded as metrics; every event, of
// those types or any other, also becomes a span event (see Traces).
//
// # Traces
//
// When the span in Observe's context is recording, each event is added to
// it as a span event named by the event's Kind ("retry.retried",
// "circuitbreaker.rejected"), with bulwark.name and the event's fields
// (its LogValue) under bulwark.<kind>: bulwark.retry.retried.attempt,
// bulwark.retry.retried.delay (durations in seconds, times in RFC 3339,
// errors as their text). The span of a request then tells which retries, rejections,
// state changes and fallbacks it went through.
//
// Trace wraps calls in spans that say why a call failed (error.type,
// bulwark.rejected for a policy's refusal, bulwark.retry_after);
// TraceAttempts, inside a retry or hedge, adds an event per failed attempt.
//
// For the outbox, Inject writes the trace context into a message's headers
// (MessageCarrier) before it is enqueued; TracePublisher publishes it in a
// producer span that continues that trace and passes its own context on to
// the broker; Consume runs the consumer's handler in a consumer span, child
// of the publish span, and ConsumeMiddleware does the same for every
// handler of a consume.Consumer. One trace then spans the request, the
// commit, the relay, the broker and the consumer.
package otelbulwark
