package bulwarkhttp

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/bulwark-go/bulwark/ratelimit"
)

// Limiter is a rate limiter with a limit per key, such as *ratelimit.Keyed.
// Allow takes a permit for one request of key, or returns an error: one that
// matches ratelimit.ErrLimited when key is over its limit (with a
// RetryAfter() method saying when to come back), another when the limiter
// itself failed (a shared store out of reach).
type Limiter interface {
	Allow(key string) error
}

// RateLimiterConfig configures a RateLimiter.
type RateLimiterConfig struct {
	// Limiter counts each client's requests. Required.
	Limiter Limiter

	// Key names the client a request counts against. nil means RemoteIP.
	// Behind a proxy or load balancer, use the client address it forwards,
	// from a header only that proxy can set.
	Key func(*http.Request) string

	// FailClosed answers 503 Service Unavailable (with Retry-After: 1) when
	// the Limiter fails rather than limits. Off by default: the request is
	// served, so that a limiter outage is not an outage of the service.
	FailClosed bool

	// OnLimited, if set, is called for each request over its limit, with
	// its key and the wait sent in Retry-After.
	OnLimited func(r *http.Request, key string, retryAfter time.Duration)

	// OnError, if set, is called when the Limiter fails, with its error.
	OnError func(r *http.Request, key string, err error)
}

// DefaultRateLimiterConfig returns a RateLimiterConfig keyed by RemoteIP
// that serves requests when the Limiter fails. Limiter must still be set.
func DefaultRateLimiterConfig() RateLimiterConfig {
	return RateLimiterConfig{}
}

// RateLimiter is server middleware that limits each client's request rate:
// requests over the limit get 429 Too Many Requests with Retry-After, without
// reaching the handler. It is safe for concurrent use.
type RateLimiter struct {
	limiter    Limiter
	key        func(*http.Request) string
	failClosed bool
	onLimited  func(*http.Request, string, time.Duration)
	onError    func(*http.Request, string, error)
}

// NewRateLimiter returns a RateLimiter, or an error naming the first invalid
// field of cfg.
func NewRateLimiter(cfg RateLimiterConfig) (*RateLimiter, error) {
	if cfg.Limiter == nil {
		return nil, errors.New("bulwarkhttp: RateLimiterConfig.Limiter must be set, got nil")
	}
	l := &RateLimiter{limiter: cfg.Limiter, key: cfg.Key, failClosed: cfg.FailClosed, onLimited: cfg.OnLimited, onError: cfg.OnError}
	if l.key == nil {
		l.key = RemoteIP
	}
	return l, nil
}

// Handler returns next behind the RateLimiter.
func (l *RateLimiter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := l.key(r)
		err := l.limiter.Allow(key)
		switch {
		case err == nil:
			next.ServeHTTP(w, r)
		case errors.Is(err, ratelimit.ErrLimited):
			wait, _ := retryAfterOf(err)
			if l.onLimited != nil {
				l.onLimited(r, key, wait)
			}
			reject(w, http.StatusTooManyRequests, wait)
		default:
			if l.onError != nil {
				l.onError(r, key, err)
			}
			if l.failClosed {
				reject(w, http.StatusServiceUnavailable, time.Second)
				return
			}
			next.ServeHTTP(w, r)
		}
	})
}

// RemoteIP returns the IP address of the connection a request came on
// (Request.RemoteAddr without its port): the default RateLimiter key.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
