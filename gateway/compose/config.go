package compose

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// OnError says what a failed part does to the answer.
type OnError string

const (
	// Fail answers the whole request with problem+json: 504 Gateway
	// Timeout when the part timed out, 502 Bad Gateway otherwise. The
	// default.
	Fail OnError = "fail"
	// Omit leaves the part's key out of the answer, which is marked
	// partial.
	Omit OnError = "omit"
	// UseFallback puts the part's static Fallback value under its key (or
	// its fields at the top level, for a Merge part); the answer is marked
	// partial.
	UseFallback OnError = "fallback"
)

// Part is one upstream call of a composed answer.
type Part struct {
	// Key names the part: its key in the answer, its name in X-Partial and
	// events, and the prefix other parts use for its fields
	// ({key.field}). Required: letters, digits, '_' and '-', not starting
	// with '_', unique.
	Key string `json:"key"`
	// Upstream names the transport, among those given to New, the request
	// is sent through. Required.
	Upstream string `json:"upstream"`
	// BaseURL is the scheme and host the request is sent to, such as
	// "http://10.0.0.7:8080". "" means "http://" + Upstream: right for an
	// upstream.Pool, which sets the scheme and host of each request to its
	// chosen endpoint's.
	BaseURL string `json:"base_url,omitempty"`
	// Method is the request's method; "" means GET. The request has no
	// body.
	Method string `json:"method,omitempty"`
	// Path is the request's path, with an optional query, and placeholders:
	// {name} takes the incoming request's path value name
	// (http.Request.PathValue; an empty or missing one fails the part
	// without calling it) and {key.field.sub} a field of part key's
	// JSON answer (a string, number or boolean), which makes this part wait
	// for that one. Values are escaped for where they stand (path or
	// query). Required, starting with '/'.
	Path string `json:"path"`
	// Headers lists incoming request headers passed on to this part, in
	// addition to the trace headers and X-Request-Id, which always are.
	// Forwarded and X-Forwarded-For, -Host and -Proto are refused: a
	// client could set them to anything.
	Headers []string `json:"headers,omitempty"`
	// Timeout bounds this part's call, in [1ms, 10m]; 0 means no bound
	// but Config.Deadline.
	Timeout Duration `json:"timeout,omitempty"`
	// Merge puts the fields of this part's answer (a JSON object) at the
	// top level of the composed answer, instead of under Key. Parts are
	// merged in Config order: a field of a later part replaces an earlier
	// one's. A merged field named "_partial" is dropped.
	Merge bool `json:"merge,omitempty"`
	// OnError says what a failure of this part does; "" means Fail.
	OnError OnError `json:"on_error,omitempty"`
	// Fallback is the JSON value used in the part's place with
	// UseFallback (a JSON object for a Merge part). Required with
	// UseFallback, refused otherwise.
	Fallback json.RawMessage `json:"fallback,omitempty"`
}

// Config configures a Handler. Parts is required; every other zero field
// means the default its comment names. The json tags are the declarative
// form a gateway document embeds.
type Config struct {
	// Parts lists the calls, 1 to 64. A part's placeholders may name only
	// other parts of this list, and the dependencies must not form a
	// cycle.
	Parts []Part `json:"parts"`
	// Deadline bounds the whole request, in [1ms, 10m]; 0 means 10s.
	Deadline Duration `json:"deadline,omitempty"`
	// MaxConcurrency is the largest number of parts of one request in
	// flight at once, in [1, 64]; 0 means 8.
	MaxConcurrency int `json:"max_concurrency,omitempty"`
	// MaxPartBytes bounds each part's answer body, in [1, 64 MiB]; 0 means
	// 1 MiB. A larger body fails the part.
	MaxPartBytes int64 `json:"max_part_bytes,omitempty"`
	// Name identifies the Handler in its events. Optional.
	Name string `json:"-"`
	// Observer receives PartDone and Answered events. Nil observes
	// nothing.
	Observer bulwark.Observer `json:"-"`
	// Clock times the parts for the events; nil means clock.System.
	// Deadlines and timeouts run on the real clock (they are context
	// deadlines, which the transports obey).
	Clock clock.Clock `json:"-"`
}

// The defaults of zero Config fields and the bounds of the settings.
const (
	DefaultDeadline       = 10 * time.Second
	DefaultMaxConcurrency = 8
	DefaultMaxPartBytes   = 1 << 20
	maxParts              = 64
	minDuration           = time.Millisecond
	maxDuration           = 10 * time.Minute
	maxPartBytesLimit     = 64 << 20
)

// DefaultConfig returns the defaults a zero Config stands for (with no
// parts, which the caller must add).
func DefaultConfig() Config {
	return Config{
		Deadline:       Duration(DefaultDeadline),
		MaxConcurrency: DefaultMaxConcurrency,
		MaxPartBytes:   DefaultMaxPartBytes,
	}
}

func (c Config) withDefaults() Config {
	if c.Deadline == 0 {
		c.Deadline = Duration(DefaultDeadline)
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = DefaultMaxConcurrency
	}
	if c.MaxPartBytes == 0 {
		c.MaxPartBytes = DefaultMaxPartBytes
	}
	c.Clock = clock.OrSystem(c.Clock)
	return c
}

// check validates c (with defaults applied) against the transports and
// returns the compiled parts in Config order.
func (c Config) check(upstreams map[string]http.RoundTripper) ([]*part, error) {
	if d := time.Duration(c.Deadline); d < minDuration || d > maxDuration {
		return nil, fmt.Errorf("compose: Config.Deadline must be in [%v, %v] (0 means %v), got %v", minDuration, maxDuration, DefaultDeadline, d)
	}
	if c.MaxConcurrency < 1 || c.MaxConcurrency > maxParts {
		return nil, fmt.Errorf("compose: Config.MaxConcurrency must be in [1, %d] (0 means %d), got %d", maxParts, DefaultMaxConcurrency, c.MaxConcurrency)
	}
	if c.MaxPartBytes < 1 || c.MaxPartBytes > maxPartBytesLimit {
		return nil, fmt.Errorf("compose: Config.MaxPartBytes must be in [1, %d] (0 means %d), got %d", maxPartBytesLimit, DefaultMaxPartBytes, c.MaxPartBytes)
	}
	if len(c.Parts) == 0 || len(c.Parts) > maxParts {
		return nil, fmt.Errorf("compose: Config.Parts must list 1 to %d parts, got %d", maxParts, len(c.Parts))
	}
	index := make(map[string]int, len(c.Parts))
	for i, p := range c.Parts {
		if !validKey(p.Key) {
			return nil, fmt.Errorf("compose: Config.Parts[%d].Key must be letters, digits, '_' or '-', not starting with '_', got %q", i, p.Key)
		}
		if _, dup := index[p.Key]; dup {
			return nil, fmt.Errorf("compose: Config.Parts[%d].Key %q is used twice", i, p.Key)
		}
		index[p.Key] = i
	}
	parts := make([]*part, len(c.Parts))
	for i, p := range c.Parts {
		cp, err := compilePart(i, p, upstreams, index)
		if err != nil {
			return nil, err
		}
		parts[i] = cp
	}
	for _, p := range parts {
		for _, d := range p.deps {
			p.depParts = append(p.depParts, parts[d])
			parts[d].needed = true
		}
	}
	if err := checkCycles(parts); err != nil {
		return nil, err
	}
	return parts, nil
}

func validKey(s string) bool {
	if s == "" || s[0] == '_' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkCycles refuses dependencies that form a cycle, naming a part on it.
func checkCycles(parts []*part) error {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(parts))
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case visiting:
			return fmt.Errorf("compose: Config.Parts[%d] (%q) depends on itself through its placeholders", i, parts[i].key)
		case done:
			return nil
		}
		state[i] = visiting
		for _, d := range parts[i].deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[i] = done
		return nil
	}
	for i := range parts {
		if err := visit(i); err != nil {
			return err
		}
	}
	return nil
}
