package otelbulwark

import (
	"context"
	"errors"

	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// The attributes bulwark's metrics and spans carry besides semantic
// convention ones (error.type, messaging.*).
const (
	nameKey            = attribute.Key("bulwark.name")
	keyKey             = attribute.Key("bulwark.key")
	cbStateKey         = attribute.Key("bulwark.circuitbreaker.state")
	cbPreviousStateKey = attribute.Key("bulwark.circuitbreaker.previous_state")
	retryAttemptKey    = attribute.Key("bulwark.retry.attempt")
	retryReasonKey     = attribute.Key("bulwark.retry.reason")
	bhDirectionKey     = attribute.Key("bulwark.bulkhead.direction")
	hedgeAttemptKey    = attribute.Key("bulwark.hedge.attempt")
	chaosFaultKey      = attribute.Key("bulwark.chaos.fault")
	sagaStepKey        = attribute.Key("bulwark.saga.step")
	sagaCompKey        = attribute.Key("bulwark.saga.compensation")
	sagaStatusKey      = attribute.Key("bulwark.saga.status")
	rejectedKey        = attribute.Key("bulwark.rejected")
	retryAfterKey      = attribute.Key("bulwark.retry_after")
	attemptKey         = attribute.Key("bulwark.attempt")
	attemptsKey        = attribute.Key("bulwark.attempts")
	outboxKeyKey       = attribute.Key("bulwark.outbox.key")
	errorTypeKey       = semconv.ErrorTypeKey
)

// background is the context of measurements made from hooks, which get none.
var background = context.Background()

// fixedAttrs is an attribute set made once per instrumented pattern, as
// the option slices Add, Record and Observe take: passing a slice made in
// advance keeps a measurement from allocating one.
type fixedAttrs struct {
	add     []metric.AddOption
	record  []metric.RecordOption
	observe []metric.ObserveOption
}

// fixed returns the attributes bulwark.name=name and more.
func fixed(name string, more ...attribute.KeyValue) fixedAttrs {
	o := metric.WithAttributeSet(attribute.NewSet(append([]attribute.KeyValue{nameKey.String(name)}, more...)...))
	return fixedAttrs{add: []metric.AddOption{o}, record: []metric.RecordOption{o}, observe: []metric.ObserveOption{o}}
}

// rejectionTally returns the function that counts a rejection of the
// pattern name in ts: under its key when the Telemetry records keys and
// the key is not empty.
func (t *Telemetry) rejectionTally(ts *tallies, name string) func(key string) {
	all := ts.add(name)
	if !t.keys {
		return func(string) { all.inc() }
	}
	byKey := &keyedTallies{ts: ts, name: name}
	return func(key string) {
		if key == "" {
			all.inc()
			return
		}
		byKey.get(key).inc()
	}
}

// ErrorType returns the value bulwark gives the error.type attribute for
// err: "" for nil; the sentinel a bulwark rejection matches
// ("circuitbreaker.ErrOpen", "bulkhead.ErrFull", "ratelimit.ErrLimited",
// "timeout.ErrTimeout", "retry.ErrAttemptTimeout", "chaos.ErrInjected");
// "context.Canceled" or "context.DeadlineExceeded"; otherwise the type of
// the error (the last attempt's error for a retry.Error, the marked error for
// retry.Permanent), after unwrapping fmt.Errorf wrappers, as semconv.ErrorType names it, e.g. "*net.OpError".
// Values are low-cardinality: one per error type, never per message.
func ErrorType(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, circuitbreaker.ErrOpen):
		return "circuitbreaker.ErrOpen"
	case errors.Is(err, bulkhead.ErrFull):
		return "bulkhead.ErrFull"
	case errors.Is(err, ratelimit.ErrLimited):
		return "ratelimit.ErrLimited"
	case errors.Is(err, timeout.ErrTimeout):
		return "timeout.ErrTimeout"
	case errors.Is(err, retry.ErrAttemptTimeout):
		return "retry.ErrAttemptTimeout"
	case errors.Is(err, chaos.ErrInjected):
		return "chaos.ErrInjected"
	case errors.Is(err, context.Canceled):
		return "context.Canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	}
	var re *retry.Error
	if errors.As(err, &re) && re.Err != nil {
		return ErrorType(re.Err)
	}
	if inner := errors.Unwrap(err); inner != nil && retry.IsPermanent(err) {
		return ErrorType(inner) // the error marked Permanent, not the mark
	}
	return semconv.ErrorType(err).Value.AsString()
}

// rejected reports whether err is a policy's refusal to run the call at all
// (an open breaker, a full bulkhead, a rate limit).
func rejected(err error) bool {
	return errors.Is(err, circuitbreaker.ErrOpen) || errors.Is(err, bulkhead.ErrFull) ||
		errors.Is(err, ratelimit.ErrLimited)
}
