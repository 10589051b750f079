// Package bulwark composes resilience policies.
//
// A Policy wraps a call: it decides whether, when and how often the call runs
// and what error the caller sees. Every policy package in bulwark
// (circuitbreaker, retry, bulkhead, timeout, ratelimit, hedge, fallback, chaos)
// has a Do method of the same shape, so any of them is a Policy and any of
// them can be combined with Chain:
//
//	p := bulwark.Chain(retrier, breaker, limiter) // retry outermost
//	err := p.Do(ctx, callInventory)
//
// Call carries a typed result through any Policy.
package bulwark

import (
	"context"
	"sync"
)

// Policy runs op under a resilience rule. Do returns op's error, or an error of
// the policy's own when it did not let op run (or stopped waiting for it).
// Implementations pass a context derived from ctx to op and return promptly
// when ctx is done.
type Policy interface {
	Do(ctx context.Context, op func(context.Context) error) error
}

// PolicyFunc adapts an ordinary function to the Policy interface.
type PolicyFunc func(ctx context.Context, op func(context.Context) error) error

// Do calls f(ctx, op).
func (f PolicyFunc) Do(ctx context.Context, op func(context.Context) error) error {
	return f(ctx, op)
}

// Chain composes policies into one. The first policy is the outermost: in
// Chain(retry, breaker, bulkhead) each retry attempt passes the breaker, and
// each call the breaker admits takes a bulkhead permit.
//
// Chain() is a Policy that just calls op; Chain(p) is p itself. A chain of
// several policies adds one small allocation per call (the context that carries
// op to the innermost policy) and nothing per policy.
func Chain(policies ...Policy) Policy {
	switch len(policies) {
	case 0:
		return passthrough{}
	case 1:
		return policies[0]
	}
	c := &chain{policies: append([]Policy(nil), policies...)}
	// next[i] is the op handed to policies[i]: it runs policies[i+1], and the
	// last one runs the caller's op, which Do put into the context. Building
	// these once keeps per-call work free of closures.
	c.next = make([]func(context.Context) error, len(c.policies))
	last := len(c.policies) - 1
	c.next[last] = c.callOp
	for i := last - 1; i >= 0; i-- {
		inner, innerOp := c.policies[i+1], c.next[i+1]
		c.next[i] = func(ctx context.Context) error { return inner.Do(ctx, innerOp) }
	}
	return c
}

// Policies returns the policies p runs each call through, outermost first:
// for a policy made by Chain, the policies Chain was given, each nested
// Chain replaced by its own policies (a chain of chains runs them in that
// order); for Chain(), none; for any other policy, p alone. The slice is
// the caller's. Code that wraps calls in a policy may look inside a chain
// with it, to run policies it knows itself.
func Policies(p Policy) []Policy {
	switch c := p.(type) {
	case passthrough:
		return nil
	case *chain:
		var out []Policy
		for _, q := range c.policies {
			out = append(out, Policies(q)...)
		}
		return out
	}
	return []Policy{p}
}

type passthrough struct{}

func (passthrough) Do(ctx context.Context, op func(context.Context) error) error {
	return op(ctx)
}

type chain struct {
	policies []Policy
	next     []func(context.Context) error
}

// Do runs op through every policy of the chain, outermost first.
func (c *chain) Do(ctx context.Context, op func(context.Context) error) error {
	// The chain itself is the key: unique per chain, so nested chains cannot
	// see each other's op.
	return c.policies[0].Do(context.WithValue(ctx, c, op), c.next[0])
}

func (c *chain) callOp(ctx context.Context) error {
	op, _ := ctx.Value(c).(func(context.Context) error)
	return op(ctx)
}

// Call runs op through p and returns the value of op's first successful
// invocation, or the value a policy delivered in op's place (see Deliver):
// a fallback's value reaches the caller as op's would. When p reports an
// error, Call returns the zero T with it. When p reports success with no
// value (a policy that swallowed op's error without delivering one), Call
// returns the zero T and nil.
//
// Call is safe with policies that run op concurrently (hedge) or abandon an
// attempt that goes on running (a detached timeout): only the first result
// before Call returns is kept, and no later one races with it.
func Call[T any](ctx context.Context, p Policy, op func(context.Context) (T, error)) (T, error) {
	s := new(resultSlot[T])
	err := p.Do(context.WithValue(ctx, callKey{}, s), func(ctx context.Context) error {
		v, err := op(ctx)
		if err == nil {
			s.offer(v)
		}
		return err
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if err != nil {
		var zero T
		return zero, err
	}
	return s.result, nil
}

// Deliver offers v as the result of the innermost Call in ctx, as if Call's
// op had returned v without error. A policy that answers for op instead of
// running it (fallback.Fallback) calls it so that its value reaches Call's
// caller. It reports whether v was kept: false when ctx carries no Call
// with result type T, or that Call already kept a result or has returned.
func Deliver[T any](ctx context.Context, v T) bool {
	s, ok := ctx.Value(callKey{}).(*resultSlot[T])
	return ok && s.offer(v)
}

// callKey is the context key of the innermost Call's result slot.
type callKey struct{}

// resultSlot keeps the first result offered to one Call.
type resultSlot[T any] struct {
	mu     sync.Mutex
	closed bool // a result was kept, or Call has returned
	result T
}

func (s *resultSlot[T]) offer(v T) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.result, s.closed = v, true
	return true
}
