package clientlimit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/gateway/jwtauth"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// The response headers a Limiter writes, as the IETF httpapi draft
// "RateLimit header fields for HTTP" defines them (see the package doc).
const (
	HeaderRateLimit       = "RateLimit"
	HeaderRateLimitPolicy = "RateLimit-Policy"
)

// policyKey is HeaderRateLimitPolicy as a key of http.Header ("Ratelimit-Policy").
var policyKey = http.CanonicalHeaderKey(HeaderRateLimitPolicy)

// Limiter is net/http middleware that holds each client to several rate
// limits at once (per second and per day, say), each a window of
// Config.Windows, taking Config.Cost permits from each for every request
// of its route. It is safe for concurrent use.
//
// Every response it passes or writes carries RateLimit-Policy, listing the
// windows. A request over a window's limit is answered 429 Too Many
// Requests, as application/problem+json, without reaching the next
// handler, with Retry-After (the window's wait until the client's next
// permit, whole seconds rounded up) and RateLimit naming that window with
// r=0 and t=the same wait.
type Limiter struct {
	cfg     Config
	windows []window
	// policy is the RateLimit-Policy value, shared by every response: its
	// length equals its capacity, so a handler that adds a value appends
	// to a copy.
	policy []string
}

// New returns a Limiter, or an error naming the first invalid field of
// cfg.
func New(cfg Config) (*Limiter, error) {
	cfg, ws, err := cfg.check()
	if err != nil {
		return nil, err
	}
	policies := make([]string, len(ws))
	for i, w := range ws {
		policies[i] = w.policy
	}
	return &Limiter{cfg: cfg, windows: ws, policy: slices.Clip([]string{strings.Join(policies, ", ")})}, nil
}

// Key returns the limiter key r counts against: "sub:" and the issuer and
// subject (subjects are unique per issuer only), separated by a space,
// "key:" and the hex SHA-256 of the API key, "ip:" and the client's
// address, by the first of Config.KeyBy that applies, or "anonymous".
func (l *Limiter) Key(r *http.Request) string {
	l.made()
	for _, k := range l.cfg.KeyBy {
		switch k {
		case BySubject:
			if p, ok := jwtauth.FromContext(r.Context()); ok && p.Subject != "" {
				return "sub:" + p.Issuer + " " + p.Subject
			}
		case ByAPIKey:
			if v := r.Header.Get(l.cfg.APIKeyHeader); v != "" {
				sum := sha256.Sum256([]byte(v))
				return "key:" + hex.EncodeToString(sum[:])
			}
		case ByClientIP:
			if a := l.cfg.Proxies.ClientIP(r); a.IsValid() {
				return "ip:" + a.String()
			}
			return "ip:" + r.RemoteAddr
		}
	}
	return "anonymous"
}

func (l *Limiter) made() {
	if l == nil || l.windows == nil {
		panic("clientlimit: Limiter used without New")
	}
}

// Handler returns next behind the Limiter.
func (l *Limiter) Handler(next http.Handler) http.Handler {
	l.made()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := l.Key(r)
		w.Header()[policyKey] = l.policy
		for _, win := range l.windows {
			for range l.cfg.Cost {
				err := win.limiter.Wait(r.Context(), key)
				if err == nil {
					continue
				}
				if errors.Is(err, ratelimit.ErrLimited) {
					l.limited(w, r, win, key, err)
					return
				}
				if l.cfg.Observer != nil {
					l.cfg.Observer.Observe(r.Context(), LimiterFailed{Name: l.cfg.Name, Key: key, Window: win.name, Err: err})
				}
				if l.cfg.FailClosed {
					bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusServiceUnavailable, Detail: "The rate limiter is unavailable; retry later.", RetryAfter: time.Second})
					return
				}
				next.ServeHTTP(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// limited answers a request win refused with err.
func (l *Limiter) limited(w http.ResponseWriter, r *http.Request, win window, key string, err error) {
	wait, _ := bulwark.RetryAfter(err)
	if l.cfg.Observer != nil {
		l.cfg.Observer.Observe(r.Context(), Limited{Name: l.cfg.Name, Key: key, Window: win.name, Wait: wait})
	}
	p := bulwarkhttp.ProblemFor(err)
	w.Header().Set(HeaderRateLimit, strconv.Quote(win.name)+";r=0;t="+seconds(p.RetryAfter))
	bulwarkhttp.WriteProblem(w, p)
}

// seconds formats d as Retry-After does: whole seconds rounded up, at
// least 1.
func seconds(d time.Duration) string {
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return strconv.FormatInt(max(s, 1), 10)
}
