package bulwarkhttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
)

// ShedderConfig configures a Shedder.
type ShedderConfig struct {
	// Policy admits requests: a bulkhead (fixed or adaptive), a circuit
	// breaker, a rate limiter — anything that decides before the handler
	// runs. Required.
	Policy bulwark.Policy

	// RetryAfter is sent in the Retry-After header of a 503 when the
	// rejection does not say when to come back (a full bulkhead); a
	// rejection with a RetryAfter() method (an open breaker) sends its own.
	// Rounded up to whole seconds. Must be > 0.
	RetryAfter time.Duration

	// OnReject, if set, is called for each rejected request with the
	// policy's error, before the 503 is written.
	OnReject func(r *http.Request, err error)
}

// DefaultShedderConfig returns a ShedderConfig sending Retry-After: 1.
// Policy must still be set.
func DefaultShedderConfig() ShedderConfig {
	return ShedderConfig{RetryAfter: time.Second}
}

// Shedder is server middleware that sheds load: requests its policy rejects
// get 503 Service Unavailable with Retry-After, at once, instead of queueing
// until they time out. It is safe for concurrent use.
type Shedder struct {
	policy     bulwark.Policy
	retryAfter time.Duration
	onReject   func(*http.Request, error)
}

// NewShedder returns a Shedder, or an error naming the first invalid field of
// cfg.
func NewShedder(cfg ShedderConfig) (*Shedder, error) {
	if cfg.Policy == nil {
		return nil, errors.New("bulwarkhttp: ShedderConfig.Policy must be set, got nil")
	}
	if cfg.RetryAfter <= 0 {
		return nil, fmt.Errorf("bulwarkhttp: ShedderConfig.RetryAfter must be > 0, got %v", cfg.RetryAfter)
	}
	return &Shedder{policy: cfg.Policy, retryAfter: cfg.RetryAfter, onReject: cfg.OnReject}, nil
}

// errServed is what a policy gets when it runs the handler a second time
// (a retry, a hedge): a request is served once.
var errServed = errors.New("bulwarkhttp: request already served")

// Handler returns next behind the Shedder. next runs at most once per
// request, with the policy's context; when the policy rejects the request
// without running it, the client gets 503 and Retry-After.
//
// Once next has run, the response is next's whatever the policy returns. If
// the policy returns while next is still running (a detached timeout),
// Handler waits for next to return, since net/http forbids using the
// ResponseWriter after the handler returned.
func (s *Shedder) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &shedCall{next: next, w: w, r: r, done: make(chan struct{})}
		err := s.policy.Do(r.Context(), c.serve)
		if c.claimed.CompareAndSwap(false, true) {
			if err == nil {
				err = errors.New("bulwarkhttp: policy did not run the handler")
			}
			if s.onReject != nil {
				s.onReject(r, err)
			}
			wait := s.retryAfter
			if d, ok := retryAfterOf(err); ok && d > 0 {
				wait = d
			}
			reject(w, http.StatusServiceUnavailable, wait)
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
