package fallback

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark"
)

// Config configures a Fallback. The zero Config is the default
// configuration: every error of op is replaced, and nothing is observed.
type Config struct {
	// Name names the Fallback in its events (Event.Component).
	Name string
	// Observer receives the Fallback's events (FellBack). nil observes
	// nothing and costs nothing.
	Observer bulwark.Observer

	// Handle reports whether an error of op should be replaced by the
	// alternative. nil (the default) means every error is.
	Handle func(err error) bool
}

// DefaultConfig returns the defaults that the zero Config stands for: every
// error is replaced.
func DefaultConfig() Config {
	return Config{}
}

// Fallback replaces handled errors of an operation with the outcome of an
// alternative. It is safe for concurrent use when the alternative is. The
// zero Fallback is not usable: make one with New.
type Fallback[T any] struct {
	name        string
	observer    bulwark.Observer
	handle      func(error) bool
	alternative func(ctx context.Context, err error) (T, error)
}

// New returns a Fallback that answers handled errors with alternative, which
// receives the caller's context and op's error. It returns an error when
// alternative is nil.
func New[T any](alternative func(ctx context.Context, err error) (T, error), cfg Config) (*Fallback[T], error) {
	if alternative == nil {
		return nil, errors.New("fallback: alternative must not be nil")
	}
	return &Fallback[T]{name: cfg.Name, observer: cfg.Observer, handle: cfg.Handle, alternative: alternative}, nil
}

// Call runs op. When op succeeds, or fails with an error Handle rejects,
// Call returns op's result as is. Otherwise it returns the alternative's
// result; if the alternative fails too, Call returns the zero T and an
// *Error that wraps both the alternative's error and op's, so errors.Is and
// errors.As find either. Call panics on a Fallback not made by New.
func (f *Fallback[T]) Call(ctx context.Context, op func(context.Context) (T, error)) (T, error) {
	f.check()
	v, err := op(ctx)
	if err == nil || !f.handles(err) {
		return v, err
	}
	return f.replace(ctx, err)
}

// Do runs op and, when it fails with a handled error, runs the alternative
// and returns its error (nil when it succeeds). Do makes a Fallback a
// bulwark.Policy: when the alternative succeeds, its value is delivered
// (bulwark.Deliver) to the innermost bulwark.Call in ctx whose result type
// is T, so that
//
//	price, err := bulwark.Call(ctx, bulwark.Chain(fb, breaker), quote)
//
// returns the alternative's price, as if quote had. Without such a Call
// the value is discarded. Do panics on a Fallback not made by New.
func (f *Fallback[T]) Do(ctx context.Context, op func(context.Context) error) error {
	f.check()
	err := op(ctx)
	if err == nil || !f.handles(err) {
		return err
	}
	v, err := f.replace(ctx, err)
	if err == nil {
		bulwark.Deliver(ctx, v)
	}
	return err
}

func (f *Fallback[T]) check() {
	if f.alternative == nil {
		panic("fallback: Fallback used without New")
	}
}

func (f *Fallback[T]) handles(err error) bool {
	return f.handle == nil || f.handle(err)
}

func (f *Fallback[T]) replace(ctx context.Context, opErr error) (T, error) {
	if f.observer != nil {
		f.observer.Observe(ctx, FellBack{Name: f.name, Err: opErr})
	}
	v, err := f.alternative(ctx, opErr)
	if err != nil {
		var zero T
		return zero, &Error{Err: err, Cause: opErr}
	}
	return v, nil
}

// Error reports that the alternative failed too. Its Unwrap returns both
// errors, the alternative's first.
type Error struct {
	Err   error // the alternative's error
	Cause error // op's error, which the alternative was to replace
}

func (e *Error) Error() string {
	return fmt.Sprintf("fallback: alternative failed: %v (after: %v)", e.Err, e.Cause)
}

// Unwrap returns the alternative's error and op's.
func (e *Error) Unwrap() []error { return []error{e.Err, e.Cause} }

// Value returns an alternative that answers every handled error with v.
func Value[T any](v T) func(context.Context, error) (T, error) {
	return func(context.Context, error) (T, error) { return v, nil }
}

// Op adapts an alternative operation without a result, for a Fallback used
// through Do.
func Op(alternative func(ctx context.Context, err error) error) func(context.Context, error) (struct{}, error) {
	if alternative == nil {
		return nil
	}
	return func(ctx context.Context, err error) (struct{}, error) {
		return struct{}{}, alternative(ctx, err)
	}
}

// ErrorIs returns a Handle that accepts the errors matching any of targets
// (with errors.Is).
func ErrorIs(targets ...error) func(error) bool {
	targets = append([]error(nil), targets...)
	return func(err error) bool {
		for _, t := range targets {
			if errors.Is(err, t) {
				return true
			}
		}
		return false
	}
}
