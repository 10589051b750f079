package upstream

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// Config sets how a Pool balances, checks and ejects its endpoints. The zero
// Config is the default (DefaultConfig spells it out); every zero field
// takes the default its comment names, and New rejects a setting outside its
// range with an error that names the field.
type Config struct {
	// Name names the pool in events and errors; the service name when
	// empty.
	Name string
	// Observer receives the pool's events: EndpointsChanged, ResolveFailed,
	// HealthChanged, EndpointEjected and EndpointRestored. Nil observes
	// nothing.
	Observer bulwark.Observer
	// Clock times ejections and health-check intervals; nil means
	// clock.System.
	Clock clock.Clock
	// Scheme is the scheme requests are sent with: "http" (default) or
	// "https".
	Scheme string
	// Balancer picks the endpoint of each request: RoundRobin (the
	// default) or LeastOutstanding.
	Balancer Balancer
	// HealthCheck configures active health checks; off when its Path is
	// empty (the default).
	HealthCheck HealthCheck
	// Outlier configures passive outlier ejection, which is always on.
	Outlier Outlier
	// Transport sends each request and health check to its endpoint. Nil
	// means a tuned http.Transport the pool owns (see MaxIdleConnsPerHost,
	// DialTimeout and IdleConnTimeout) and whose idle connections Close
	// closes.
	Transport http.RoundTripper
	// MaxIdleConnsPerHost is the number of idle keep-alive connections the
	// default transport keeps per endpoint: in [1, 1e6]; 0 means 256
	// (http.DefaultTransport keeps 2, which makes a busy proxy open and close
	// a connection per request). Unused with Transport.
	MaxIdleConnsPerHost int
	// DialTimeout bounds connecting to an endpoint with the default
	// transport: in (0, 1h]; 0 means 5 seconds. Unused with Transport.
	DialTimeout time.Duration
	// IdleConnTimeout closes a keep-alive connection of the default
	// transport idle this long: in (0, 24h]; 0 means 90 seconds. Unused with
	// Transport.
	IdleConnTimeout time.Duration
}

// Balancer is how a Pool picks an endpoint among those eligible.
type Balancer int

const (
	// RoundRobin takes the eligible endpoints in turn.
	RoundRobin Balancer = iota
	// LeastOutstanding picks two eligible endpoints at random and sends to
	// the one with fewer requests in flight (the power of two choices):
	// nearly the balance of always taking the least loaded, without herding
	// every request onto the endpoint that just looked idle.
	LeastOutstanding
)

// String returns "round_robin" or "least_outstanding", the names the
// gateway's document uses.
func (b Balancer) String() string {
	switch b {
	case RoundRobin:
		return "round_robin"
	case LeastOutstanding:
		return "least_outstanding"
	}
	return fmt.Sprintf("Balancer(%d)", int(b))
}

// MarshalText returns the balancer's name, as String, so that a
// configuration document can hold it; an unknown Balancer is an error.
func (b Balancer) MarshalText() ([]byte, error) {
	if b != RoundRobin && b != LeastOutstanding {
		return nil, fmt.Errorf("upstream: unknown %v", b)
	}
	return []byte(b.String()), nil
}

// UnmarshalText reads "round_robin" or "least_outstanding" (or "", the
// default, RoundRobin); any other name is an error that lists the two.
func (b *Balancer) UnmarshalText(text []byte) error {
	switch string(text) {
	case "", "round_robin":
		*b = RoundRobin
	case "least_outstanding":
		*b = LeastOutstanding
	default:
		return fmt.Errorf("upstream: balancer must be \"round_robin\" or \"least_outstanding\", got %q", text)
	}
	return nil
}

// HealthCheck configures active health checks: Run sends GET Path to every
// endpoint each Interval; a 2xx answer within Timeout passes, anything else
// fails. An endpoint turns unhealthy after UnhealthyAfter failures in a row
// and healthy again after HealthyAfter passes in a row. Endpoints start
// healthy, and the first round runs as soon as Run starts.
type HealthCheck struct {
	// Path is the path checked, starting with "/"; empty turns health
	// checks off.
	Path string
	// Interval is the wait between the end of one round of checks and the
	// start of the next: in (0, 24h]; 0 means 10 seconds.
	Interval time.Duration
	// Timeout bounds one check, on the system clock as net/http's
	// deadlines are: in (0, 1h]; 0 means 2 seconds.
	Timeout time.Duration
	// HealthyAfter is the number of passes in a row that make an unhealthy
	// endpoint healthy: in [1, 1000]; 0 means 2.
	HealthyAfter int
	// UnhealthyAfter is the number of failures in a row that make a
	// healthy endpoint unhealthy: in [1, 1000]; 0 means 3.
	UnhealthyAfter int
}

// Outlier configures passive outlier ejection: each endpoint has a circuit
// breaker (one key of a circuitbreaker.Keyed set) that counts the requests
// sent to it, and ConsecutiveFailures failures in a row (a transport error
// or a 502, 503 or 504 answer) eject it. An ejected endpoint gets no
// request for its ejection time; then one request goes to it as a probe,
// and a success restores it while a failure ejects it again for twice as
// long, up to MaxEjectionTime, as Envoy's growing ejection time does.
type Outlier struct {
	// ConsecutiveFailures is the number of failures in a row that eject an
	// endpoint: in [1, 10000]; 0 means 5.
	ConsecutiveFailures int
	// EjectionTime is how long a first ejection lasts: in (0, 24h]; 0
	// means 30 seconds.
	EjectionTime time.Duration
	// MaxEjectionTime caps the ejection time that doubles on each
	// ejection after a failed probe: in [EjectionTime, 24h]; 0 means 5
	// minutes, or EjectionTime when that is longer.
	MaxEjectionTime time.Duration
	// MaxEjectedPercent caps the share of the pool's endpoints ejected at
	// once, in percent, rounded down, with at least one endpoint always
	// ejectable: when most endpoints look bad the cause is more likely the
	// network or the caller, and ejecting them all would take the service
	// down. An endpoint held back by the cap stays in rotation and is
	// ejected once there is room. In (0, 100]; 0 means 50.
	MaxEjectedPercent float64
}

// The defaults zero fields take.
const (
	defaultMaxIdlePerHost      = 256
	defaultDialTimeout         = 5 * time.Second
	defaultIdleConnTimeout     = 90 * time.Second
	defaultHealthInterval      = 10 * time.Second
	defaultHealthTimeout       = 2 * time.Second
	defaultHealthyAfter        = 2
	defaultUnhealthyAfter      = 3
	defaultConsecutiveFailures = 5
	defaultEjectionTime        = 30 * time.Second
	defaultMaxEjectionTime     = 5 * time.Minute
	defaultMaxEjectedPercent   = 50
)

// DefaultConfig returns the defaults the zero Config stands for, spelled
// out: plain HTTP, round robin, no health checks, ejection after 5
// consecutive failures for 30 seconds doubling up to 5 minutes with at most
// half the pool ejected, and a transport keeping 256 idle connections per
// endpoint for 90 seconds that connects within 5 seconds.
func DefaultConfig() Config {
	return Config{
		Scheme:              "http",
		Balancer:            RoundRobin,
		HealthCheck:         HealthCheck{Interval: defaultHealthInterval, Timeout: defaultHealthTimeout, HealthyAfter: defaultHealthyAfter, UnhealthyAfter: defaultUnhealthyAfter},
		Outlier:             Outlier{ConsecutiveFailures: defaultConsecutiveFailures, EjectionTime: defaultEjectionTime, MaxEjectionTime: defaultMaxEjectionTime, MaxEjectedPercent: defaultMaxEjectedPercent},
		MaxIdleConnsPerHost: defaultMaxIdlePerHost,
		DialTimeout:         defaultDialTimeout,
		IdleConnTimeout:     defaultIdleConnTimeout,
	}
}

// withDefaults fills zero fields with their defaults.
func (c Config) withDefaults(service string) Config {
	d := DefaultConfig()
	or := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	ori := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	if c.Name == "" {
		c.Name = service
	}
	if c.Scheme == "" {
		c.Scheme = d.Scheme
	}
	ori(&c.MaxIdleConnsPerHost, d.MaxIdleConnsPerHost)
	or(&c.DialTimeout, d.DialTimeout)
	or(&c.IdleConnTimeout, d.IdleConnTimeout)
	or(&c.HealthCheck.Interval, d.HealthCheck.Interval)
	or(&c.HealthCheck.Timeout, d.HealthCheck.Timeout)
	ori(&c.HealthCheck.HealthyAfter, d.HealthCheck.HealthyAfter)
	ori(&c.HealthCheck.UnhealthyAfter, d.HealthCheck.UnhealthyAfter)
	ori(&c.Outlier.ConsecutiveFailures, d.Outlier.ConsecutiveFailures)
	or(&c.Outlier.EjectionTime, d.Outlier.EjectionTime)
	if c.Outlier.MaxEjectionTime == 0 {
		c.Outlier.MaxEjectionTime = max(d.Outlier.MaxEjectionTime, c.Outlier.EjectionTime)
	}
	if c.Outlier.MaxEjectedPercent == 0 {
		c.Outlier.MaxEjectedPercent = d.Outlier.MaxEjectedPercent
	}
	return c
}

// validate returns an error naming the first invalid setting of c, whose
// zero fields have taken their defaults.
func (c Config) validate() error {
	const day = 24 * time.Hour
	dur := func(field string, v, hi time.Duration, def string) error {
		if v <= 0 || v > hi {
			return invalid(field, fmt.Sprintf("be in (0, %v] (0 means %s)", hi, def), v)
		}
		return nil
	}
	count := func(field string, v, hi int, def int) error {
		if v < 1 || v > hi {
			return invalid(field, fmt.Sprintf("be in [1, %d] (0 means %d)", hi, def), v)
		}
		return nil
	}
	switch {
	case c.Scheme != "http" && c.Scheme != "https":
		return invalid("Scheme", `be "http" or "https" ("" means "http")`, fmt.Sprintf("%q", c.Scheme))
	case c.Balancer != RoundRobin && c.Balancer != LeastOutstanding:
		return invalid("Balancer", "be RoundRobin or LeastOutstanding", c.Balancer)
	case c.HealthCheck.Path != "" && !strings.HasPrefix(c.HealthCheck.Path, "/"):
		return invalid("HealthCheck.Path", `be empty (off) or start with "/"`, fmt.Sprintf("%q", c.HealthCheck.Path))
	case math.IsNaN(c.Outlier.MaxEjectedPercent) || c.Outlier.MaxEjectedPercent <= 0 || c.Outlier.MaxEjectedPercent > 100:
		return invalid("Outlier.MaxEjectedPercent", "be in (0, 100] (0 means 50)", c.Outlier.MaxEjectedPercent)
	}
	for _, err := range []error{
		count("MaxIdleConnsPerHost", c.MaxIdleConnsPerHost, 1e6, defaultMaxIdlePerHost),
		dur("DialTimeout", c.DialTimeout, time.Hour, "5s"),
		dur("IdleConnTimeout", c.IdleConnTimeout, day, "90s"),
		dur("HealthCheck.Interval", c.HealthCheck.Interval, day, "10s"),
		dur("HealthCheck.Timeout", c.HealthCheck.Timeout, time.Hour, "2s"),
		count("HealthCheck.HealthyAfter", c.HealthCheck.HealthyAfter, 1000, defaultHealthyAfter),
		count("HealthCheck.UnhealthyAfter", c.HealthCheck.UnhealthyAfter, 1000, defaultUnhealthyAfter),
		count("Outlier.ConsecutiveFailures", c.Outlier.ConsecutiveFailures, 10000, defaultConsecutiveFailures),
		dur("Outlier.EjectionTime", c.Outlier.EjectionTime, day, "30s"),
	} {
		if err != nil {
			return err
		}
	}
	if c.Outlier.MaxEjectionTime < c.Outlier.EjectionTime || c.Outlier.MaxEjectionTime > day {
		return invalid("Outlier.MaxEjectionTime", fmt.Sprintf("be in [Outlier.EjectionTime (%v), 24h] (0 means 5m or EjectionTime)", c.Outlier.EjectionTime), c.Outlier.MaxEjectionTime)
	}
	return nil
}

func invalid(field, rule string, got any) error {
	return fmt.Errorf("upstream: Config.%s must %s, got %v", field, rule, got)
}
