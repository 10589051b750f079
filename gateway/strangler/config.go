package strangler

import (
	"fmt"
	"github.com/bulwark-go/bulwark/policyset"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
)

// Mode says whether requests are split between the sides or shadowed.
type Mode string

const (
	// Split sends each request to one side, by override or weight. The
	// default.
	Split Mode = "split"
	// Shadow answers from the legacy side and sends a copy of each safe
	// request to the new side, to compare.
	Shadow Mode = "shadow"
)

// Side is one of the two upstreams.
type Side string

const (
	Legacy Side = "legacy"
	Modern Side = "new"
)

// KeySource is what makes a client sticky to a side.
type KeySource string

const (
	// ByClientIP keys on the client's IP (Config.Proxies finds it). The
	// default, and the key used when the chosen source is absent.
	ByClientIP KeySource = "client_ip"
	// ByHeader keys on the value of the header Config.StickyName.
	ByHeader KeySource = "header"
	// ByCookie keys on the value of the cookie Config.StickyName.
	ByCookie KeySource = "cookie"
	// BySubject keys on the JWT subject package jwtauth put in the
	// request's context.
	BySubject KeySource = "subject"
)

// Override sends the requests that match it to one side, whatever the
// weight. Exactly one of Header and Claim is set.
type Override struct {
	// Header names a request header to match.
	Header string `json:"header,omitempty"`
	// Claim names a claim of the request's JWT (jwtauth.FromContext) to
	// match: a string, number or boolean equal to Value, or a list holding
	// Value.
	Claim string `json:"claim,omitempty"`
	// Value is the value to match; "" matches any non-empty value (and a
	// true boolean claim).
	Value string `json:"value,omitempty"`
	// To is the side matching requests go to: Legacy or Modern. Required.
	To Side `json:"to"`
}

// ShadowConfig configures Shadow mode.
type ShadowConfig struct {
	// MaxInFlight bounds the copies in flight at once, in [1, 4096]; 0
	// means 16. A copy beyond it is skipped (Stats.Skipped).
	MaxInFlight int `json:"max_in_flight,omitempty"`
	// Timeout bounds each copy, in [1ms, 10m]; 0 means 5s. The new side's
	// handler must obey its request's context for the bound to hold.
	Timeout Duration `json:"timeout,omitempty"`
	// MaxBodyBytes is how much of each body is kept and compared, in
	// [1, 64 MiB]; 0 means 1 MiB. Longer bodies are compared by their first
	// MaxBodyBytes bytes.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// IgnoreFields lists JSON fields left out of the comparison, as dotted
	// paths ("meta.request_id"); a path crosses lists, applying to each
	// element ("items.etag").
	IgnoreFields []string `json:"ignore_fields,omitempty"`
}

// Config configures a Router. Every zero field means the default its
// comment names; the zero Config sends everything to the legacy side.
// The json tags are the declarative form a gateway document embeds.
type Config struct {
	// Mode is Split or Shadow; "" means Split.
	Mode Mode `json:"mode,omitempty"`
	// Weight is the percentage of clients sent to the new side in Split
	// mode, in [0, 100]. Ignored in Shadow mode.
	Weight int `json:"weight"`
	// StickyBy is the source of each client's key; "" means ByClientIP.
	StickyBy KeySource `json:"sticky_by,omitempty"`
	// StickyName is the header or cookie ByHeader or ByCookie reads;
	// required with them, refused otherwise.
	StickyName string `json:"sticky_name,omitempty"`
	// Overrides are tried in order before the weight; the first that
	// matches decides. At most 64.
	Overrides []Override `json:"overrides,omitempty"`
	// Shadow configures Shadow mode.
	Shadow ShadowConfig `json:"shadow,omitzero"`
	// Proxies says which peers are trusted proxies, for ByClientIP. The
	// zero value trusts none.
	Proxies bulwarkhttp.Proxies `json:"-"`
	// Name identifies the Router in its events. Optional; kept by
	// Reconfigure.
	Name string `json:"-"`
	// Observer receives Mismatch and ShadowFailed events; nil observes
	// nothing. Kept by Reconfigure.
	Observer bulwark.Observer `json:"-"`
}

// The defaults of zero Config fields and the bounds of the settings.
const (
	DefaultShadowMaxInFlight  = 16
	DefaultShadowTimeout      = 5 * time.Second
	DefaultShadowMaxBodyBytes = 1 << 20
	maxOverrides              = 64
	maxInFlightLimit          = 4096
	maxBodyBytesLimit         = 64 << 20
)

// DefaultConfig returns the defaults a zero Config stands for: Split mode,
// weight 0 (all to legacy), sticky by client IP.
func DefaultConfig() Config {
	return Config{Mode: Split, StickyBy: ByClientIP, Shadow: ShadowConfig{
		MaxInFlight: DefaultShadowMaxInFlight, Timeout: Duration(DefaultShadowTimeout), MaxBodyBytes: DefaultShadowMaxBodyBytes,
	}}
}

// settings is a checked Config, read once per request.
type settings struct {
	cfg    Config
	ignore [][]string
}

func (c Config) check() (*settings, error) {
	if c.Mode == "" {
		c.Mode = Split
	}
	if c.Mode != Split && c.Mode != Shadow {
		return nil, fmt.Errorf("strangler: Config.Mode must be %q or %q, got %q", Split, Shadow, c.Mode)
	}
	if c.Weight < 0 || c.Weight > 100 {
		return nil, fmt.Errorf("strangler: Config.Weight must be in [0, 100], got %d", c.Weight)
	}
	if c.StickyBy == "" {
		c.StickyBy = ByClientIP
	}
	switch c.StickyBy {
	case ByHeader, ByCookie:
		if !validToken(c.StickyName) {
			return nil, fmt.Errorf("strangler: Config.StickyName must name the header or cookie with StickyBy %q, got %q", c.StickyBy, c.StickyName)
		}
		if c.StickyBy == ByHeader {
			c.StickyName = http.CanonicalHeaderKey(c.StickyName)
		}
	case ByClientIP, BySubject:
		if c.StickyName != "" {
			return nil, fmt.Errorf("strangler: Config.StickyName is used only with StickyBy %q or %q, got %q", ByHeader, ByCookie, c.StickyName)
		}
	default:
		return nil, fmt.Errorf("strangler: Config.StickyBy must be %q, %q, %q or %q, got %q", ByClientIP, ByHeader, ByCookie, BySubject, c.StickyBy)
	}
	if len(c.Overrides) > maxOverrides {
		return nil, fmt.Errorf("strangler: Config.Overrides must list at most %d overrides, got %d", maxOverrides, len(c.Overrides))
	}
	c.Overrides = slices.Clone(c.Overrides)
	for i, o := range c.Overrides {
		if (o.Header == "") == (o.Claim == "") {
			return nil, fmt.Errorf("strangler: Config.Overrides[%d] must set exactly one of Header and Claim", i)
		}
		if o.Header != "" {
			if !validToken(o.Header) {
				return nil, fmt.Errorf("strangler: Config.Overrides[%d].Header must be a header name, got %q", i, o.Header)
			}
			c.Overrides[i].Header = http.CanonicalHeaderKey(o.Header)
		}
		if o.To != Legacy && o.To != Modern {
			return nil, fmt.Errorf("strangler: Config.Overrides[%d].To must be %q or %q, got %q", i, Legacy, Modern, o.To)
		}
	}
	s := &c.Shadow
	if s.MaxInFlight == 0 {
		s.MaxInFlight = DefaultShadowMaxInFlight
	}
	if s.MaxInFlight < 1 || s.MaxInFlight > maxInFlightLimit {
		return nil, fmt.Errorf("strangler: Config.Shadow.MaxInFlight must be in [1, %d] (0 means %d), got %d", maxInFlightLimit, DefaultShadowMaxInFlight, s.MaxInFlight)
	}
	if s.Timeout == 0 {
		s.Timeout = Duration(DefaultShadowTimeout)
	}
	if d := time.Duration(s.Timeout); d < time.Millisecond || d > 10*time.Minute {
		return nil, fmt.Errorf("strangler: Config.Shadow.Timeout must be in [1ms, 10m] (0 means %v), got %v", DefaultShadowTimeout, d)
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = DefaultShadowMaxBodyBytes
	}
	if s.MaxBodyBytes < 1 || s.MaxBodyBytes > maxBodyBytesLimit {
		return nil, fmt.Errorf("strangler: Config.Shadow.MaxBodyBytes must be in [1, %d] (0 means %d), got %d", maxBodyBytesLimit, DefaultShadowMaxBodyBytes, s.MaxBodyBytes)
	}
	st := &settings{}
	s.IgnoreFields = slices.Clone(s.IgnoreFields)
	for i, f := range s.IgnoreFields {
		path := strings.Split(f, ".")
		if slices.Contains(path, "") {
			return nil, fmt.Errorf("strangler: Config.Shadow.IgnoreFields[%d] must be a dotted path of field names, got %q", i, f)
		}
		st.ignore = append(st.ignore, path)
	}
	st.cfg = c
	return st, nil
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// Duration is a time.Duration written in a document as a Go duration string
// ("250ms", "2s", "1m30s"); a bare number is refused, so that a timeout of 2
// cannot silently mean two nanoseconds. It is policyset.Duration, the one
// form every bulwark document uses ("none", which reads as -1, is refused
// by every setting here that takes a Duration).
type Duration = policyset.Duration
