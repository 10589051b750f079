package otelbulwark

import (
	"context"
	"errors"

	"github.com/bulwark-go/bulwark"
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
	nameKey             = attribute.Key("bulwark.name")
	keyKey              = attribute.Key("bulwark.key")
	cbStateKey          = attribute.Key("bulwark.circuitbreaker.state")
	cbPreviousStateKey  = attribute.Key("bulwark.circuitbreaker.previous_state")
	retryAttemptKey     = attribute.Key("bulwark.retry.attempt")
	retryReasonKey      = attribute.Key("bulwark.retry.reason")
	bhDirectionKey      = attribute.Key("bulwark.bulkhead.direction")
	hedgeAttemptKey     = attribute.Key("bulwark.hedge.attempt")
	chaosFaultKey       = attribute.Key("bulwark.chaos.fault")
	sagaStepKey         = attribute.Key("bulwark.saga.step")
	sagaCompKey         = attribute.Key("bulwark.saga.compensation")
	sagaStatusKey       = attribute.Key("bulwark.saga.status")
	rejectedKey         = attribute.Key("bulwark.rejected")
	retryAfterKey       = attribute.Key("bulwark.retry_after")
	attemptKey          = attribute.Key("bulwark.attempt")
	attemptsKey         = attribute.Key("bulwark.attempts")
	outboxKeyKey        = attribute.Key("bulwark.outbox.key")
	consumeInProcessKey = attribute.Key("bulwark.consume.in_process")
	cqrsProjectionKey   = attribute.Key("bulwark.cqrs.projection")
	cqrsVersionKey      = attribute.Key("bulwark.cqrs.version")
	cqrsActionKey       = attribute.Key("bulwark.cqrs.action")
	errorTypeKey        = semconv.ErrorTypeKey
)

// observeOptions returns the attributes bulwark.name=name and more, made
// once for a callback that observes a component's state: passing a slice
// made in advance keeps an observation from allocating one.
func observeOptions(name string, more ...attribute.KeyValue) []metric.ObserveOption {
	return []metric.ObserveOption{metric.WithAttributeSet(
		attribute.NewSet(append([]attribute.KeyValue{nameKey.String(name)}, more...)...))}
}

// with returns the measurement option of the attributes bulwark.name=name
// and more.
func with(name string, more ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributes(append([]attribute.KeyValue{nameKey.String(name)}, more...)...)
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
func rejected(err error) bool { return errors.Is(err, bulwark.ErrRejected) }
