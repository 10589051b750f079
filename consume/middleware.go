package consume

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/bulwark-go/bulwark"
)

// Chain wraps h in the middleware given, the first outermost:
// Chain(h, a, b) runs a, which runs b, which runs h. Nil middleware are
// skipped.
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		if mw[i] != nil {
			h = mw[i](h)
		}
	}
	return h
}

// WithPolicy runs each handler call under p: a circuit breaker, a bulkhead, a
// rate limiter, a timeout, any bulwark.Policy or bulwark.Chain of them. The
// policy's own refusals (an open breaker's bulwark.ErrRejected) are handler
// errors like any other: the message is retried later, not dead-lettered,
// unless Config.RetryIf says otherwise. WithPolicy panics when p is nil.
func WithPolicy(p bulwark.Policy) Middleware {
	if p == nil {
		panic("consume: WithPolicy: p (the Policy) is nil")
	}
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, m *Message) error {
			return p.Do(ctx, func(ctx context.Context) error { return next.Handle(ctx, m) })
		})
	}
}

// Recover turns a panic in the handler into a *PanicError holding the
// panic's value and stack: a failed attempt, retried like any other error.
func Recover() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, m *Message) (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = &PanicError{Value: v, Stack: debug.Stack()}
				}
			}()
			return next.Handle(ctx, m)
		})
	}
}

// ErrTimeout is wrapped by the error Timeout returns when a handler ran out
// of its time.
var ErrTimeout = errors.New("consume: handler timed out")

// Timeout gives each handler call at most d: its context is cancelled after
// d, and an error the handler returns after that wraps ErrTimeout and
// context.DeadlineExceeded, so that it counts as a failure of the message
// and not as the Consumer's shutdown. The handler must return when its
// context ends; Timeout does not abandon it. Timeout panics when d <= 0.
func Timeout(d time.Duration) Middleware {
	if d <= 0 {
		panic(fmt.Sprintf("consume: Timeout: d must be > 0, got %v", d))
	}
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, m *Message) error {
			tctx, cancel := context.WithTimeoutCause(ctx, d, ErrTimeout)
			defer cancel()
			err := next.Handle(tctx, m)
			if err != nil && ctx.Err() == nil && errors.Is(context.Cause(tctx), ErrTimeout) {
				return fmt.Errorf("%w after %v: %w", ErrTimeout, d, err)
			}
			return err
		})
	}
}

// ExtractContext runs each handler with the context extract returns from
// the handler's context and the message's headers: the way to pick up a
// trace context or a tenant a publisher put in the headers (otelbulwark's
// consumer middleware is one). ExtractContext panics when extract is nil.
func ExtractContext(extract func(ctx context.Context, headers map[string]string) context.Context) Middleware {
	if extract == nil {
		panic("consume: ExtractContext: extract is nil")
	}
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, m *Message) error {
			return next.Handle(extract(ctx, m.Headers), m)
		})
	}
}
