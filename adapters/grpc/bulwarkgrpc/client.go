package bulwarkgrpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

var (
	// ErrNotReplayable is the error of an attempt that would have sent a
	// call a second time when that is not known to be safe: its method is
	// not idempotent (ClientConfig) and it carries no idempotency key. It
	// is marked retry.Permanent, so a retry gives up at once; nothing is
	// sent. The caller gets the first attempt's error, wrapped.
	ErrNotReplayable = errors.New("bulwarkgrpc: call is not idempotent and cannot be sent again")

	// ErrNoResponse is returned (as UNKNOWN) when the policy reported
	// success without letting any attempt produce a response.
	ErrNoResponse = errors.New("bulwarkgrpc: policy succeeded without a response")

	// errCallOver is the error of an attempt that a policy started after
	// it had returned: the call is over.
	errCallOver = errors.New("bulwarkgrpc: the call is over")
)

// Resolver finds descriptors by full name, as *protoregistry.Files does.
type Resolver interface {
	FindDescriptorByName(protoreflect.FullName) (protoreflect.Descriptor, error)
}

// NoDescriptors, as ClientConfig.Descriptors, stops the client from reading
// the idempotency_level option of methods.
var NoDescriptors Resolver = noDescriptors{}

type noDescriptors struct{}

func (noDescriptors) FindDescriptorByName(protoreflect.FullName) (protoreflect.Descriptor, error) {
	return nil, protoregistry.NotFound
}

// ClientConfig configures the client interceptors. Every zero field means
// the default its comment names, so ClientConfig{} is the default
// configuration.
type ClientConfig struct {
	// IdempotentMethods lists the methods that are safe to send more than
	// once, by full name ("/pkg.Service/Method"), or every method of a
	// service as "/pkg.Service/*". Calls of other methods are attempted
	// once unless another rule below says they are idempotent.
	IdempotentMethods []string

	// IsIdempotent, when set, reports further calls as safe to send more
	// than once. A call is also idempotent when its context was marked by
	// hedge.Idempotent, when its outgoing metadata carries
	// MetadataIdempotencyKey, or when its method's idempotency_level option
	// is NO_SIDE_EFFECTS or IDEMPOTENT (see Descriptors).
	IsIdempotent func(ctx context.Context, method string) bool

	// Descriptors is where the method descriptors whose idempotency_level
	// option is read are found. nil means protoregistry.GlobalFiles, where
	// generated code registers its services; NoDescriptors reads none.
	Descriptors Resolver

	// IsFailure reports the status codes that the policy sees as errors
	// (a breaker counts them; a retry may retry them). Every other code
	// is the server's answer about the request: the policy sees a success
	// and the caller gets the status error. nil means FailureCode.
	IsFailure func(codes.Code) bool

	// IsRetryable reports which of the failure codes may be retried; the
	// others are marked retry.Permanent. nil means RetryableCode.
	IsRetryable func(codes.Code) bool
}

// DefaultClientConfig returns the defaults that ClientConfig{} stands for,
// spelled out: no methods listed, descriptors read from
// protoregistry.GlobalFiles, FailureCode and RetryableCode.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{Descriptors: protoregistry.GlobalFiles, IsFailure: FailureCode, IsRetryable: RetryableCode}
}

// client is what both client interceptors share.
type client struct {
	policy      bulwark.Policy
	steps       []step                      // policy's steps, when direct
	direct      bool                        // every policy is a step: unary calls run them directly
	run         func(context.Context) error // a unary call's attempts through policy, otherwise
	methods     map[string]bool             // full names, and "/pkg.Service/" for services
	services    bool                        // some entry of methods is a service
	isIdem      func(context.Context, string) bool
	descriptors Resolver
	levels      sync.Map // method -> bool, from the idempotency_level option
	isFailure   func(codes.Code) bool
	isRetryable func(codes.Code) bool
}

func newClient(what string, policy bulwark.Policy, cfg ClientConfig) (*client, error) {
	if policy == nil {
		return nil, fmt.Errorf("bulwarkgrpc: %s needs a policy, got nil", what)
	}
	c := &client{policy: policy, methods: make(map[string]bool, len(cfg.IdempotentMethods)), isIdem: cfg.IsIdempotent,
		descriptors: cfg.Descriptors, isFailure: cfg.IsFailure, isRetryable: cfg.IsRetryable}
	for i, m := range cfg.IdempotentMethods {
		service, method, ok := strings.Cut(strings.TrimPrefix(m, "/"), "/")
		if !strings.HasPrefix(m, "/") || !ok || service == "" || method == "" || strings.Contains(method, "/") ||
			(strings.Contains(method, "*") && method != "*") {
			return nil, fmt.Errorf("bulwarkgrpc: ClientConfig.IdempotentMethods[%d] must be \"/pkg.Service/Method\" or \"/pkg.Service/*\", got %q", i, m)
		}
		if method == "*" {
			c.methods["/"+service+"/"] = true
			c.services = true
		} else {
			c.methods[m] = true
		}
	}
	if c.descriptors == nil {
		c.descriptors = protoregistry.GlobalFiles
	}
	if c.isFailure == nil {
		c.isFailure = FailureCode
	}
	if c.isRetryable == nil {
		c.isRetryable = RetryableCode
	}
	c.steps, c.direct = directSteps(policy)
	c.run = compose(bulwark.Policies(policy), attemptOp)
	return c, nil
}

// idempotent reports whether a call may be sent more than once.
func (c *client) idempotent(ctx context.Context, method string) bool {
	if c.methods[method] || hedge.IsIdempotent(ctx) {
		return true
	}
	if c.services {
		if i := strings.LastIndexByte(method, '/'); i > 0 && c.methods[method[:i+1]] {
			return true
		}
	}
	if c.isIdem != nil && c.isIdem(ctx, method) {
		return true
	}
	if c.level(method) {
		return true
	}
	return len(metadata.ValueFromOutgoingContext(ctx, MetadataIdempotencyKey)) > 0
}

// level reports whether the method's idempotency_level option says it is
// safe to repeat, looking the descriptor up once per method.
func (c *client) level(method string) bool {
	if v, ok := c.levels.Load(method); ok {
		return v.(bool)
	}
	ok := false
	if d, err := c.descriptors.FindDescriptorByName(protoreflect.FullName(strings.ReplaceAll(trimMethod(method), "/", "."))); err == nil {
		if md, isMethod := d.(protoreflect.MethodDescriptor); isMethod {
			if opts, isOpts := md.Options().(*descriptorpb.MethodOptions); isOpts {
				switch opts.GetIdempotencyLevel() {
				case descriptorpb.MethodOptions_NO_SIDE_EFFECTS, descriptorpb.MethodOptions_IDEMPOTENT:
					ok = true
				}
			}
		}
	}
	c.levels.Store(method, ok)
	return ok
}

// classify turns an attempt's error into what the policy sees: nil for an
// answer (the caller gets answer), a *StatusError for a failure, marked
// retry.Permanent when it may not be retried.
func (c *client) classify(ctx context.Context, method string, err error, trailer metadata.MD, replayable bool) (policyErr, answer error) {
	st, isStatus := status.FromError(err)
	ctxErr := ctx.Err()
	if isStatus && ctxErr == nil && !c.isFailure(st.Code()) {
		return nil, err
	}
	if !isStatus {
		if ctxErr != nil {
			err = errors.Join(err, ctxErr)
		}
		if !replayable {
			return retry.Permanent(err), nil
		}
		return err, nil
	}
	se := newStatusError(method, st, err, trailer)
	se.ctxErr = ctxErr
	if !replayable || se.noRetry || (ctxErr == nil && !c.isRetryable(st.Code())) {
		return retry.Permanent(se), nil
	}
	return se, nil
}

// UnaryClientInterceptor returns an interceptor that runs every unary call
// through policy, each run of the policy's operation being one attempt,
// or an error when policy is nil or a setting of cfg is invalid. See the
// package doc for what the policy and the caller see.
func UnaryClientInterceptor(policy bulwark.Policy, cfg ClientConfig) (grpc.UnaryClientInterceptor, error) {
	c, err := newClient("UnaryClientInterceptor", policy, cfg)
	if err != nil {
		return nil, err
	}
	return c.unary, nil
}

func (c *client) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if c.direct {
		// a retry, a breaker and a bulkhead run attempts one at a time
		// and keep nothing after: the call allocates nothing, and works
		// out whether it is idempotent only when a retry asks
		// (set field by field: a composite literal is built aside and
		// copied, which costs a store-forwarding stall per call)
		var x directCall
		x.ctx, x.c, x.method, x.req, x.reply, x.cc, x.invoker, x.opts = ctx, c, method, req, reply, cc, invoker, opts
		return x.finish(x.run(ctx, c.steps))
	}
	x := &unaryCall{Context: ctx, c: c, method: method, req: req, reply: reply, cc: cc, invoker: invoker, opts: opts}
	x.replayable = c.idempotent(ctx, method)
	if m, ok := reply.(proto.Message); ok && x.replayable {
		// read now: attempts may write into reply while another starts
		x.replyType = m.ProtoReflect().Type()
	}
	// x is the policy's context: the caller's, marked hedge.Idempotent when
	// the call is, and carrying x for attemptOp, which allocates nothing
	// more than x itself.
	err := c.run(x)
	return x.finish(err)
}

// idempotentMark answers the lookups of hedge.IsIdempotent with true, and
// every other lookup with nil.
var idempotentMark = hedge.Idempotent(context.Background())

// unaryCallKey is the context key under which a unaryCall finds itself.
type unaryCallKey struct{}

// Value returns x for unaryCallKey, hedge's mark when the call is
// idempotent, and the caller's values otherwise.
func (x *unaryCall) Value(key any) any {
	if key == (unaryCallKey{}) {
		return x
	}
	if x.replayable {
		if v := idempotentMark.Value(key); v != nil {
			return v
		}
	}
	return x.Context.Value(key)
}

// attemptOp is the operation the policy runs: one attempt of the call in
// ctx.
func attemptOp(ctx context.Context) error {
	return ctx.Value(unaryCallKey{}).(*unaryCall).attempt(ctx)
}

// unaryCall is one unary call: the attempts the policy makes and the
// outcome the caller will get.
type unaryCall struct {
	context.Context // the caller's

	c          *client
	method     string
	req, reply any
	cc         *grpc.ClientConn
	invoker    grpc.UnaryInvoker
	opts       []grpc.CallOption
	replayable bool

	attempts  atomic.Int32
	replyBusy atomic.Bool              // an attempt is writing into reply, or reply holds the result
	replyType protoreflect.MessageType // reply's type, nil when it is not a proto.Message

	mu     sync.Mutex
	active int           // attempts running
	over   bool          // finish has begun: no attempt may start
	idle   chan struct{} // closed when active drops to 0, once finish waits for it
	done   bool          // an outcome was kept
	result any           // the message of the successful attempt (reply or a fresh one)
	answer error         // the answer of an attempt the policy saw as a success
}

func (x *unaryCall) attempt(ctx context.Context) error {
	n := x.attempts.Add(1)
	if n > 1 && !x.replayable {
		return retry.Permanent(fmt.Errorf("%w: %s", ErrNotReplayable, x.method))
	}
	x.mu.Lock()
	if x.over { // a policy ran op after it returned (a detached timeout's late start)
		x.mu.Unlock()
		return retry.Permanent(errCallOver)
	}
	x.active++
	x.mu.Unlock()

	out := x.reply
	ownsReply := x.replyBusy.CompareAndSwap(false, true)
	if !ownsReply {
		if x.replyType == nil {
			return retry.Permanent(fmt.Errorf("bulwarkgrpc: %s: an attempt running beside another needs a proto.Message reply, got %T", x.method, x.reply))
		}
		out = x.replyType.New().Interface()
	}
	o, opts := getAttemptOpts(x.opts)
	err := x.invoker(ctx, x.method, x.req, out, x.cc, opts...)
	trailer := o.release()
	var answer error
	if err != nil {
		err, answer = x.c.classify(ctx, x.method, err, trailer, x.replayable)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.active--; x.active == 0 && x.idle != nil {
		close(x.idle)
	}
	switch {
	case err != nil:
		if ownsReply {
			x.replyBusy.Store(false)
		}
	case x.done:
		// another attempt's outcome was kept: this one lost
		if ownsReply {
			x.replyBusy.Store(false)
		}
	case answer != nil:
		x.done, x.answer = true, answer
		if ownsReply {
			x.replyBusy.Store(false)
		}
	default:
		x.done, x.result = true, out
	}
	return err
}

// finish turns the policy's verdict into the caller's error, with the
// successful attempt's message in reply.
func (x *unaryCall) finish(err error) error {
	x.mu.Lock()
	x.over = true
	if x.active > 0 {
		// an attempt the policy left behind (a detached timeout) ends
		// with its context: wait for it before touching reply
		x.idle = make(chan struct{})
		idle := x.idle
		x.mu.Unlock()
		<-idle
		x.mu.Lock()
	}
	defer x.mu.Unlock()
	switch {
	case err != nil:
		return callerError(err)
	case x.answer != nil:
		return x.answer
	case x.result == nil:
		return &policyError{code: codes.Unknown, err: ErrNoResponse}
	case x.result != x.reply:
		m := x.reply.(proto.Message)
		proto.Reset(m)
		proto.Merge(m, x.result.(proto.Message))
	}
	return nil
}
