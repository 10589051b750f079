package clientlimit

import (
	"fmt"
	"net/http"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// KeySource is where a Limiter finds the client a request counts against.
type KeySource int

const (
	// BySubject counts a request against the issuer and subject of its
	// token, as package jwtauth's Route put them in the request's context
	// (jwtauth.FromContext). It applies only behind a jwtauth Route, to a
	// token with a "sub".
	BySubject KeySource = iota + 1
	// ByAPIKey counts a request against the API key in the header
	// Config.APIKeyHeader. The key is hashed (SHA-256) before it is used
	// as a limiter key, so a shared store never holds the secret.
	ByAPIKey
	// ByClientIP counts a request against its client's IP address, found
	// by Config.Proxies (the connection's peer unless it is a trusted
	// proxy). It always applies.
	ByClientIP
)

// String returns the constant's name.
func (k KeySource) String() string {
	switch k {
	case BySubject:
		return "BySubject"
	case ByAPIKey:
		return "ByAPIKey"
	case ByClientIP:
		return "ByClientIP"
	}
	return fmt.Sprintf("KeySource(%d)", int(k))
}

// Window is one limit every client is held to: a Keyed limiter (in memory,
// or in a shared Store such as Redis through redisratelimit) and the name
// the RateLimit headers give it.
type Window struct {
	// Name identifies the window in the RateLimit and RateLimit-Policy
	// headers; printable ASCII without quotes or backslashes. "" means
	// "<limit>-per-<seconds>s", such as "10-per-1s".
	Name string
	// Limiter holds the window's limit and every client's state in it.
	// Required. Its Period must be a whole number of seconds (the headers
	// speak in seconds). One Limiter may serve several routes' Limiters:
	// they then share each client's budget. With the Keyed's MaxWait left
	// at 0 (reject mode) a request never waits for a permit; with MaxWait
	// set it waits up to that long, as Keyed.Wait does.
	Limiter *ratelimit.Keyed
}

// Config configures a Limiter, the middleware of one route. Windows is
// required; every other zero field means the default its comment names.
type Config struct {
	// Windows lists the limits a request must pass, all of them, in order
	// (list the shortest first: a request refused by a window has taken
	// permits from the windows before it). At least one, at most 8.
	Windows []Window
	// KeyBy lists where to find the client, in order: the first source
	// that applies to a request names its client. nil means
	// []KeySource{ByClientIP}. A request to which none applies counts
	// against the shared key "anonymous".
	KeyBy []KeySource
	// APIKeyHeader is the header ByAPIKey reads; "" means "X-API-Key".
	APIKeyHeader string
	// Proxies says which peers are trusted proxies, for ByClientIP. The
	// zero value trusts none: a client's X-Forwarded-For is ignored.
	Proxies bulwarkhttp.Proxies
	// Cost is the number of permits a request of this route takes from
	// each window, in [1, 1000]; 0 means 1.
	Cost int
	// FailClosed answers 503 (with Retry-After: 1) when a window's limiter
	// fails (its store out of reach) rather than limits. Off by default:
	// the request is served, so that a store outage is not an outage of
	// the service.
	FailClosed bool
	// Name identifies the Limiter in its events. Optional.
	Name string
	// Observer receives Limited and LimiterFailed events. Nil observes
	// nothing.
	Observer bulwark.Observer
}

// The defaults of zero Config fields, and the bounds of the settings.
const (
	DefaultAPIKeyHeader = "X-API-Key"
	maxWindows          = 8
	maxCost             = 1000
)

// DefaultConfig returns the defaults a zero Config stands for (with no
// windows, which the caller must add): keyed by client IP with no trusted
// proxy, a cost of 1, serving requests when a limiter fails.
func DefaultConfig() Config {
	return Config{KeyBy: []KeySource{ByClientIP}, APIKeyHeader: DefaultAPIKeyHeader, Cost: 1}
}

// window is a checked Window with its header values.
type window struct {
	name    string
	limiter *ratelimit.Keyed
	policy  string // its member of RateLimit-Policy
}

func (c Config) check() (Config, []window, error) {
	if len(c.Windows) == 0 || len(c.Windows) > maxWindows {
		return c, nil, fmt.Errorf("clientlimit: Config.Windows must list 1 to %d windows, got %d", maxWindows, len(c.Windows))
	}
	ws := make([]window, len(c.Windows))
	seen := map[string]bool{}
	for i, w := range c.Windows {
		if w.Limiter == nil {
			return c, nil, fmt.Errorf("clientlimit: Config.Windows[%d].Limiter must not be nil", i)
		}
		rule := w.Limiter.Rule()
		if rule.Period%time.Second != 0 {
			return c, nil, fmt.Errorf("clientlimit: Config.Windows[%d].Limiter's Period must be a whole number of seconds, got %v", i, rule.Period)
		}
		secs := int64(rule.Period / time.Second)
		name := w.Name
		if name == "" {
			name = fmt.Sprintf("%d-per-%ds", rule.Limit, secs)
		}
		if !validName(name) {
			return c, nil, fmt.Errorf("clientlimit: Config.Windows[%d].Name must be printable ASCII without quotes or backslashes, got %q", i, name)
		}
		if seen[name] {
			return c, nil, fmt.Errorf("clientlimit: Config.Windows[%d].Name %q is used twice", i, name)
		}
		seen[name] = true
		ws[i] = window{name: name, limiter: w.Limiter, policy: fmt.Sprintf("%q;q=%d;w=%d", name, rule.Limit, secs)}
	}
	if c.KeyBy == nil {
		c.KeyBy = []KeySource{ByClientIP}
	}
	if len(c.KeyBy) == 0 {
		return c, nil, fmt.Errorf("clientlimit: Config.KeyBy must list at least one source or be nil (nil means ByClientIP)")
	}
	for i, k := range c.KeyBy {
		if k < BySubject || k > ByClientIP {
			return c, nil, fmt.Errorf("clientlimit: Config.KeyBy[%d] must be BySubject, ByAPIKey or ByClientIP, got %v", i, k)
		}
	}
	if c.APIKeyHeader == "" {
		c.APIKeyHeader = DefaultAPIKeyHeader
	}
	c.APIKeyHeader = http.CanonicalHeaderKey(c.APIKeyHeader)
	switch c.Proxies.Header {
	case "":
	default:
		if h := http.CanonicalHeaderKey(c.Proxies.Header); h != bulwarkhttp.HeaderXForwardedFor && h != bulwarkhttp.HeaderForwarded {
			return c, nil, fmt.Errorf("clientlimit: Config.Proxies.Header must be \"\", %q or %q, got %q", bulwarkhttp.HeaderXForwardedFor, bulwarkhttp.HeaderForwarded, c.Proxies.Header)
		}
	}
	for i, p := range c.Proxies.Trusted {
		if !p.IsValid() {
			return c, nil, fmt.Errorf("clientlimit: Config.Proxies.Trusted[%d] must be a valid prefix, got %v", i, p)
		}
	}
	if c.Cost == 0 {
		c.Cost = 1
	}
	if c.Cost < 1 || c.Cost > maxCost {
		return c, nil, fmt.Errorf("clientlimit: Config.Cost must be in [1, %d] (0 means 1), got %d", maxCost, c.Cost)
	}
	return c, ws, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
