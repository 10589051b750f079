package bulwarkgrpc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/ratelimit"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// DefaultPushback is the wait a Shedder sends when the rejection does not
// say when to come back (a full bulkhead).
const DefaultPushback = time.Second

// pushbackStatus returns the error of a refused call: code and message,
// with the wait as a RetryInfo detail, after setting the pushback trailer.
func pushbackStatus(ctx context.Context, code codes.Code, msg string, wait time.Duration) error {
	_ = grpc.SetTrailer(ctx, metadata.Pairs(MetadataPushback, FormatPushback(wait)))
	st := status.New(code, msg)
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); err == nil {
		st = d
	}
	return st.Err()
}

// ShedderConfig configures a Shedder. Every zero field means the default
// its comment names, so ShedderConfig{} is the default configuration.
type ShedderConfig struct {
	// Code is the status of a rejected call: codes.Unavailable (0 means
	// this) or codes.ResourceExhausted.
	Code codes.Code

	// Pushback is the wait sent (grpc-retry-pushback-ms and RetryInfo)
	// when the rejection does not say when to come back (a full bulkhead);
	// a rejection with a RetryAfter() method (an open breaker) sends its
	// own. 0 means DefaultPushback (1s); must not be negative.
	Pushback time.Duration

	// Name identifies the Shedder in its events. Optional.
	Name string

	// Observer receives a Shed event for each rejected call. Nil observes
	// nothing.
	Observer bulwark.Observer
}

// DefaultShedderConfig returns the defaults that ShedderConfig{} stands
// for, spelled out: UNAVAILABLE with a 1s pushback when the rejection
// says nothing.
func DefaultShedderConfig() ShedderConfig {
	return ShedderConfig{Code: codes.Unavailable, Pushback: DefaultPushback}
}

// Shedder is a server interceptor that sheds load: calls its policy
// rejects get UNAVAILABLE (or RESOURCE_EXHAUSTED) at once, with a
// grpc-retry-pushback-ms trailer and a google.rpc.RetryInfo detail saying
// when to come back, instead of queueing until they time out. It is safe
// for concurrent use.
type Shedder struct {
	policy bulwark.Policy
	cfg    ShedderConfig // defaults filled in
}

// NewShedder returns a Shedder that admits calls through policy — a
// bulkhead (fixed or adaptive), a circuit breaker, a rate limiter:
// anything that decides before the handler runs — or an error when policy
// is nil or a setting of cfg is invalid.
func NewShedder(policy bulwark.Policy, cfg ShedderConfig) (*Shedder, error) {
	if policy == nil {
		return nil, errors.New("bulwarkgrpc: NewShedder needs a policy, got nil")
	}
	if cfg.Code != codes.OK && cfg.Code != codes.Unavailable && cfg.Code != codes.ResourceExhausted {
		return nil, fmt.Errorf("bulwarkgrpc: ShedderConfig.Code must be 0 (meaning Unavailable), Unavailable or ResourceExhausted, got %v", cfg.Code)
	}
	if cfg.Pushback < 0 {
		return nil, fmt.Errorf("bulwarkgrpc: ShedderConfig.Pushback must be 0 (meaning %v) or > 0, got %v", DefaultPushback, cfg.Pushback)
	}
	cfg.Code = cmp.Or(cfg.Code, codes.Unavailable)
	cfg.Pushback = cmp.Or(cfg.Pushback, DefaultPushback)
	return &Shedder{policy: policy, cfg: cfg}, nil
}

func (s *Shedder) check() {
	if s == nil || s.policy == nil {
		panic("bulwarkgrpc: Shedder used without NewShedder")
	}
}

// errServed is what a policy gets when it runs the handler a second time
// (a retry, a hedge): a call is served once.
var errServed = errors.New("bulwarkgrpc: call already served")

// shedCall is one call passing a Shedder.
type shedCall struct {
	claimed atomic.Bool   // the handler ran, or the call was rejected
	done    chan struct{} // closed when the handler has returned
}

// run runs serve through the policy. It returns ok when the handler ran
// (having waited for it to return), or the rejection.
func (s *Shedder) run(ctx context.Context, method string, serve func(context.Context) error) error {
	c := &shedCall{done: make(chan struct{})}
	err := s.policy.Do(ctx, func(ctx context.Context) error {
		if !c.claimed.CompareAndSwap(false, true) {
			return errServed
		}
		defer close(c.done)
		return serve(ctx)
	})
	if c.claimed.CompareAndSwap(false, true) {
		if err == nil {
			err = errors.New("bulwarkgrpc: policy did not run the handler")
		}
		if s.cfg.Observer != nil {
			s.cfg.Observer.Observe(ctx, Shed{Name: s.cfg.Name, Method: method, Code: s.cfg.Code, Err: err})
		}
		wait := s.cfg.Pushback
		if d, ok := bulwark.RetryAfter(err); ok && d > 0 {
			wait = d
		}
		return &shedError{status: pushbackStatus(ctx, s.cfg.Code, "bulwarkgrpc: the server is overloaded; retry later", wait)}
	}
	<-c.done
	return nil
}

// shedError marks a rejection apart from the handler's own errors.
type shedError struct{ status error }

func (e *shedError) Error() string { return e.status.Error() }

// UnaryServerInterceptor returns the Shedder as a unary server interceptor.
// The handler runs at most once per call, with the policy's context; the
// policy sees the handler's error when its code counts as a failure
// (FailureCode), and a success otherwise.
func (s *Shedder) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	s.check()
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		var resp any
		var herr error
		err := s.run(ctx, info.FullMethod, func(ctx context.Context) error {
			resp, herr = handler(ctx, req)
			return serverFailure(herr)
		})
		if se, ok := err.(*shedError); ok {
			return nil, se.status
		}
		return resp, herr
	}
}

// StreamServerInterceptor returns the Shedder as a stream server
// interceptor: the policy admits the stream and holds it (a bulkhead's
// permit) until the handler returns.
func (s *Shedder) StreamServerInterceptor() grpc.StreamServerInterceptor {
	s.check()
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		var herr error
		err := s.run(ss.Context(), info.FullMethod, func(ctx context.Context) error {
			if ctx != ss.Context() {
				ss = &contextStream{ServerStream: ss, ctx: ctx}
			}
			herr = handler(srv, ss)
			return serverFailure(herr)
		})
		if se, ok := err.(*shedError); ok {
			return se.status
		}
		return herr
	}
}

// serverFailure returns err when a policy should count it as a failure.
func serverFailure(err error) error {
	if IsFailure(err) {
		return err
	}
	return nil
}

// contextStream is a ServerStream with the policy's context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// Limiter is a rate limiter with a limit per key, such as
// *ratelimit.Keyed (over a ratelimit.MemoryStore or a Redis store: the
// store is the limiter's business). Allow takes a permit for one call of
// key, or returns an error: one that matches ratelimit.ErrLimited when key
// is over its limit (with a RetryAfter() method saying when to come back),
// another when the limiter itself failed.
type Limiter interface {
	Allow(key string) error
}

// RateLimiterConfig configures a RateLimiter. Every zero field means the
// default its comment names, so RateLimiterConfig{} is the default
// configuration.
type RateLimiterConfig struct {
	// Key names the client a call counts against: KeyByPeer,
	// KeyByMetadata, KeyByMethod or a function of your own. nil means
	// KeyByPeer.
	Key func(ctx context.Context, method string) string

	// FailClosed answers UNAVAILABLE (with a 1s pushback) when the Limiter
	// fails rather than limits. Off by default: the call is served, so that
	// a limiter outage is not an outage of the service.
	FailClosed bool

	// Name identifies the RateLimiter in its events. Optional.
	Name string

	// Observer receives a Limited event for each call over its limit and a
	// LimiterFailed event for each failure of the Limiter. Nil observes
	// nothing.
	Observer bulwark.Observer
}

// DefaultRateLimiterConfig returns the defaults that RateLimiterConfig{}
// stands for: keyed by the peer's IP address, serving calls when the
// Limiter fails.
func DefaultRateLimiterConfig() RateLimiterConfig {
	return RateLimiterConfig{Key: KeyByPeer}
}

// KeyByPeer keys a call by its peer's IP address (without the port), or
// the whole peer address when it has no IP ("bufconn", a Unix socket), or
// "" without a peer.
func KeyByPeer(ctx context.Context, _ string) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	if a, ok := p.Addr.(*net.TCPAddr); ok {
		return a.IP.String()
	}
	s := p.Addr.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}

// KeyByMetadata returns a key function that keys a call by the first
// value of the incoming metadata key name (an API key, a tenant), or ""
// when the call has none.
func KeyByMetadata(name string) func(ctx context.Context, method string) string {
	return func(ctx context.Context, _ string) string {
		if v := metadata.ValueFromIncomingContext(ctx, name); len(v) > 0 {
			return v[0]
		}
		return ""
	}
}

// KeyByMethod keys a call by its full method name, limiting each method
// across all clients.
func KeyByMethod(_ context.Context, method string) string { return method }

// RateLimiter is a server interceptor that limits each client's call
// rate: calls over the limit get RESOURCE_EXHAUSTED with the limiter's
// wait until the client's next permit as pushback (grpc-retry-pushback-ms
// and RetryInfo), without reaching the handler. It is safe for concurrent
// use.
type RateLimiter struct {
	limiter Limiter
	cfg     RateLimiterConfig
}

// NewRateLimiter returns a RateLimiter counting each client's calls with
// limiter, or an error when limiter is nil.
func NewRateLimiter(limiter Limiter, cfg RateLimiterConfig) (*RateLimiter, error) {
	if limiter == nil {
		return nil, errors.New("bulwarkgrpc: NewRateLimiter needs a limiter, got nil")
	}
	if cfg.Key == nil {
		cfg.Key = KeyByPeer
	}
	return &RateLimiter{limiter: limiter, cfg: cfg}, nil
}

// admit returns nil when the call may go on, or the status to answer.
func (l *RateLimiter) admit(ctx context.Context, method string) error {
	if l == nil || l.limiter == nil {
		panic("bulwarkgrpc: RateLimiter used without NewRateLimiter")
	}
	key := l.cfg.Key(ctx, method)
	err := l.limiter.Allow(key)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ratelimit.ErrLimited):
		wait, _ := bulwark.RetryAfter(err)
		if l.cfg.Observer != nil {
			l.cfg.Observer.Observe(ctx, Limited{Name: l.cfg.Name, Method: method, Key: key, Wait: wait})
		}
		return pushbackStatus(ctx, codes.ResourceExhausted, "bulwarkgrpc: rate limit exceeded; retry later", wait)
	default:
		if l.cfg.Observer != nil {
			l.cfg.Observer.Observe(ctx, LimiterFailed{Name: l.cfg.Name, Method: method, Key: key, Err: err})
		}
		if l.cfg.FailClosed {
			return pushbackStatus(ctx, codes.Unavailable, "bulwarkgrpc: the rate limiter is unavailable; retry later", DefaultPushback)
		}
		return nil
	}
}

// UnaryServerInterceptor returns the RateLimiter as a unary server
// interceptor.
func (l *RateLimiter) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := l.admit(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor returns the RateLimiter as a stream server
// interceptor: each stream takes one permit when it opens.
func (l *RateLimiter) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := l.admit(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}
