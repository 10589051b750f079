package bulwarkhttp

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/bulwark-go/bulwark"
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

// RateLimiterConfig configures a RateLimiter. Every zero field means the
// default its comment names, so RateLimiterConfig{} is the default
// configuration.
type RateLimiterConfig struct {
	// Key names the client a request counts against. Nil means the
	// client's IP address as Proxies finds it (the connection's peer when
	// Proxies is zero).
	Key func(*http.Request) string

	// Proxies says which peers are trusted proxies, whose forwarding
	// header names the client. The zero value trusts none. Used only when
	// Key is nil.
	Proxies Proxies

	// FailClosed answers 503 Service Unavailable (with Retry-After: 1) when
	// the Limiter fails rather than limits. Off by default: the request is
	// served, so that a limiter outage is not an outage of the service.
	FailClosed bool

	// Name identifies the RateLimiter in its events. Optional.
	Name string

	// Observer receives a Limited event for each request over its limit
	// and a LimiterFailed event for each failure of the Limiter. Nil
	// observes nothing.
	Observer bulwark.Observer
}

// DefaultRateLimiterConfig returns the defaults that RateLimiterConfig{}
// stands for: keyed by the connection's peer address, serving requests
// when the Limiter fails.
func DefaultRateLimiterConfig() RateLimiterConfig {
	return RateLimiterConfig{}
}

// RateLimiter is server middleware that limits each client's request rate:
// requests over the limit get 429 Too Many Requests with Retry-After (the
// limiter's wait until the client's next permit, in whole seconds rounded
// up), as application/problem+json, without reaching the handler. It is
// safe for concurrent use.
type RateLimiter struct {
	limiter Limiter
	cfg     RateLimiterConfig
}

// NewRateLimiter returns a RateLimiter counting each client's requests with
// limiter, or an error when limiter is nil or a setting of cfg is invalid.
// The zero RateLimiterConfig is the default configuration.
func NewRateLimiter(limiter Limiter, cfg RateLimiterConfig) (*RateLimiter, error) {
	if limiter == nil {
		return nil, errors.New("bulwarkhttp: NewRateLimiter needs a limiter, got nil")
	}
	if !cfg.Proxies.valid() {
		return nil, fmt.Errorf("bulwarkhttp: RateLimiterConfig.Proxies.Header must be \"\", %q or %q, got %q", HeaderXForwardedFor, HeaderForwarded, cfg.Proxies.Header)
	}
	for i, p := range cfg.Proxies.Trusted {
		if !p.IsValid() {
			return nil, fmt.Errorf("bulwarkhttp: RateLimiterConfig.Proxies.Trusted[%d] must be a valid prefix, got %v", i, p)
		}
	}
	if cfg.Key == nil {
		proxies := cfg.Proxies
		cfg.Key = func(r *http.Request) string {
			if a := proxies.ClientIP(r); a.IsValid() {
				return a.String()
			}
			return r.RemoteAddr
		}
	}
	return &RateLimiter{limiter: limiter, cfg: cfg}, nil
}

// Handler returns next behind the RateLimiter.
func (l *RateLimiter) Handler(next http.Handler) http.Handler {
	if l == nil || l.limiter == nil {
		panic("bulwarkhttp: RateLimiter used without NewRateLimiter")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := l.cfg.Key(r)
		err := l.limiter.Allow(key)
		switch {
		case err == nil:
			next.ServeHTTP(w, r)
		case errors.Is(err, ratelimit.ErrLimited):
			if l.cfg.Observer != nil {
				wait, _ := bulwark.RetryAfter(err)
				l.cfg.Observer.Observe(r.Context(), Limited{Name: l.cfg.Name, Key: key, Wait: wait})
			}
			WriteError(w, err)
		default:
			if l.cfg.Observer != nil {
				l.cfg.Observer.Observe(r.Context(), LimiterFailed{Name: l.cfg.Name, Key: key, Err: err})
			}
			if l.cfg.FailClosed {
				WriteProblem(w, Problem{Status: http.StatusServiceUnavailable, Detail: "The rate limiter is unavailable; retry later.", RetryAfter: minRetryAfter})
				return
			}
			next.ServeHTTP(w, r)
		}
	})
}
