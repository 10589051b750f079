package bulwarkhttp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
)

// ShedderConfig configures a Shedder. Every zero field means the default
// its comment names, so ShedderConfig{} is the default configuration.
type ShedderConfig struct {
	// RetryAfter is sent in the Retry-After header of a 503 when the
	// rejection does not say when to come back (a full bulkhead); a
	// rejection with a RetryAfter() method (an open breaker) sends its own.
	// Rounded up to whole seconds. 0 means 1 second; must not be negative.
	RetryAfter time.Duration

	// Name identifies the Shedder in its events. Optional.
	Name string

	// Observer receives a Shed event for each rejected request. Nil
	// observes nothing.
	Observer bulwark.Observer
}

// DefaultShedderConfig returns the defaults that ShedderConfig{} stands
// for, spelled out: Retry-After: 1 when the rejection says nothing.
func DefaultShedderConfig() ShedderConfig {
	return ShedderConfig{RetryAfter: minRetryAfter}
}

// Shedder is server middleware that sheds load: requests its policy rejects
// get 503 Service Unavailable with Retry-After, at once, instead of queueing
// until they time out. It is safe for concurrent use.
type Shedder struct {
	policy bulwark.Policy
	cfg    ShedderConfig // defaults filled in
}

// NewShedder returns a Shedder that admits requests through policy — a
// bulkhead (fixed or adaptive), a circuit breaker, a rate limiter: anything
// that decides before the handler runs — or an error when policy is nil or
// a setting of cfg is invalid. The zero ShedderConfig is the default
// configuration.
func NewShedder(policy bulwark.Policy, cfg ShedderConfig) (*Shedder, error) {
	if policy == nil {
		return nil, errors.New("bulwarkhttp: NewShedder needs a policy, got nil")
	}
	if cfg.RetryAfter < 0 {
		return nil, fmt.Errorf("bulwarkhttp: ShedderConfig.RetryAfter must be 0 (meaning 1s) or > 0, got %v", cfg.RetryAfter)
	}
	cfg.RetryAfter = cmp.Or(cfg.RetryAfter, minRetryAfter)
	return &Shedder{policy: policy, cfg: cfg}, nil
}

// errServed is what a policy gets when it runs the handler a second time
// (a retry, a hedge): a request is served once.
var errServed = errors.New("bulwarkhttp: request already served")

// Handler returns next behind the Shedder. next runs at most once per
// request, with the policy's context; when the policy rejects the request
// without running it, the client gets 503 and Retry-After (as
// application/problem+json) and a Shed event is reported.
//
// Once next has run, the response is next's whatever the policy returns. If
// the policy returns while next is still running (a detached timeout),
// Handler waits for next to return, since net/http forbids using the
// ResponseWriter after the handler returned.
func (s *Shedder) Handler(next http.Handler) http.Handler {
	if s == nil || s.policy == nil {
		panic("bulwarkhttp: Shedder used without NewShedder")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &shedCall{next: next, w: w, r: r, done: make(chan struct{})}
		err := s.policy.Do(r.Context(), c.serve)
		if c.claimed.CompareAndSwap(false, true) {
			if err == nil {
				err = errors.New("bulwarkhttp: policy did not run the handler")
			}
			if s.cfg.Observer != nil {
				s.cfg.Observer.Observe(r.Context(), Shed{Name: s.cfg.Name, Method: r.Method, Path: r.URL.Path, Err: err})
			}
			wait := s.cfg.RetryAfter
			if d, ok := bulwark.RetryAfter(err); ok && d > 0 {
				wait = d
			}
			WriteProblem(w, Problem{Status: http.StatusServiceUnavailable, Detail: "The server is overloaded; retry later.", RetryAfter: wait})
			return
		}
		<-c.done
	})
}

// shedCall is one request passing a Shedder.
type shedCall struct {
	next    http.Handler
	w       http.ResponseWriter
	r       *http.Request
	claimed atomic.Bool   // the handler ran, or the request was rejected
	done    chan struct{} // closed when the handler has returned
}

func (c *shedCall) serve(ctx context.Context) error {
	if !c.claimed.CompareAndSwap(false, true) {
		return errServed
	}
	defer close(c.done)
	r := c.r
	if ctx != r.Context() {
		r = r.WithContext(ctx)
	}
	c.next.ServeHTTP(c.w, r)
	return nil
}
