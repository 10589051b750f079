package bulwarkgrpc

import (
	"context"
	"sync"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// step is one policy of a chain that the client runs itself, without
// going through the Policy interface: exactly one field is set. Each of
// these policies runs op on the calling goroutine and keeps nothing of it
// after Do returns, so the call's state can live on the caller's stack.
// Should one of them start to keep op, the compiler would move that state
// to the heap and TestUnaryDirectPoliciesAllocateNothing would fail.
type step struct {
	retrier  *retry.Retrier
	breaker  *circuitbreaker.Breaker
	bulkhead *bulkhead.Bulkhead
}

// directSteps returns the steps of policy when every policy it runs
// (bulwark.Policies: a Chain's, nested chains flattened) is a non-nil
// *retry.Retrier, *circuitbreaker.Breaker or *bulkhead.Bulkhead, and
// false otherwise.
func directSteps(policy bulwark.Policy) ([]step, bool) {
	var steps []step
	for _, p := range bulwark.Policies(policy) {
		var s step
		switch p := p.(type) {
		case *retry.Retrier:
			s.retrier = p
		case *circuitbreaker.Breaker:
			s.breaker = p
		case *bulkhead.Bulkhead:
			s.bulkhead = p
		}
		if s == (step{}) {
			return nil, false
		}
		steps = append(steps, s)
	}
	return steps, true
}

// compose returns an operation that runs attempt through policies,
// outermost first, as bulwark.Chain(policies...).Do(ctx, attempt) would,
// but with each level's operation built here once rather than carried in
// the context of every call.
func compose(policies []bulwark.Policy, attempt func(context.Context) error) func(context.Context) error {
	run := attempt
	for i := len(policies) - 1; i >= 0; i-- {
		p, next := policies[i], run
		run = func(ctx context.Context) error { return p.Do(ctx, next) }
	}
	return run
}

// directCall is a unary call whose policies are all steps: its attempts
// run one after another on the caller's goroutine, so it needs no lock, no
// reply of its own per attempt and no context of its own. It lives on the
// stack of client.unary.
type directCall struct {
	ctx        context.Context // the caller's
	c          *client
	method     string
	req, reply any
	cc         *grpc.ClientConn
	invoker    grpc.UnaryInvoker
	opts       []grpc.CallOption

	replayable int8  // 0 not yet known, 1 no, 2 yes: worked out when a retry needs it
	answer     error // the answer of the attempt the policy saw as a success, if any
}

// run runs the call's attempts through steps, the first outermost.
func (x *directCall) run(ctx context.Context, steps []step) error {
	if len(steps) == 0 {
		return x.attempt(ctx)
	}
	next := func(ctx context.Context) error { return x.run(ctx, steps[1:]) }
	switch s := &steps[0]; {
	case s.retrier != nil:
		return s.retrier.Do(ctx, next)
	case s.breaker != nil:
		return s.breaker.Do(ctx, next)
	default:
		return s.bulkhead.Do(ctx, next)
	}
}

// isReplayable reports, working it out on first use, whether the call may
// be sent more than once.
func (x *directCall) isReplayable() bool {
	if x.replayable == 0 {
		x.replayable = 1
		if x.c.idempotent(x.ctx, x.method) {
			x.replayable = 2
		}
	}
	return x.replayable == 2
}

// attempt sends the call once. Only a retry runs a second attempt, and
// only after an error it may retry: classify marks every error of a call
// that is not replayable retry.Permanent, so such a call is never sent
// twice without the check unaryCall.attempt makes.
func (x *directCall) attempt(ctx context.Context) error {
	o, opts := getAttemptOpts(x.opts)
	err := x.invoker(ctx, x.method, x.req, x.reply, x.cc, opts...)
	trailer := o.release()
	if err == nil {
		return nil
	}
	err, x.answer = x.c.classify(ctx, x.method, err, trailer, x.isReplayable())
	return err
}

// finish turns the policy's verdict into the caller's error. A step
// reports success only when the attempt it ran did, so the policy's nil
// means that the last attempt left its reply, or its answer, for the
// caller.
func (x *directCall) finish(err error) error {
	if err != nil {
		return callerError(err)
	}
	return x.answer
}

// attemptOpts is an attempt's call options: the caller's, then the
// trailer option that reads the server's pushback. grpc is done with them
// when the invoker returns, so they are reused from call to call.
type attemptOpts struct {
	trailer metadata.MD
	alone   [1]grpc.CallOption // the trailer option, set once: the options of a call without any
	opts    []grpc.CallOption  // the caller's options and the trailer option, when the caller has some
}

var attemptOptsPool = sync.Pool{New: func() any {
	o := new(attemptOpts)
	o.alone[0] = grpc.TrailerCallOption{TrailerAddr: &o.trailer}
	return o
}}

// getAttemptOpts returns the options for an attempt of a call with the
// caller's options opts; o.release gives o back once the invoker returned.
func getAttemptOpts(opts []grpc.CallOption) (o *attemptOpts, all []grpc.CallOption) {
	o = attemptOptsPool.Get().(*attemptOpts)
	if len(opts) == 0 {
		return o, o.alone[:]
	}
	o.opts = append(append(o.opts[:0], opts...), o.alone[0])
	return o, o.opts
}

// release returns the trailer the attempt received and puts o back for
// another attempt, holding on to none of the caller's options; o is not
// used after.
func (o *attemptOpts) release() metadata.MD {
	trailer := o.trailer
	o.trailer = nil
	if len(o.opts) > 0 {
		clear(o.opts)
		o.opts = o.opts[:0]
	}
	attemptOptsPool.Put(o)
	return trailer
}
