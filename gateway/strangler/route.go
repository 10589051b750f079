package strangler

import (
	"net/http"
	"strconv"

	"github.com/bulwark-go/bulwark/gateway/jwtauth"
)

// Route returns the side that serves r under the current settings (in
// Shadow mode: Legacy, unless an Override says Modern). It reads r only.
func (rt *Router) Route(r *http.Request) Side {
	rt.check()
	return rt.settings.Load().route(r)
}

func (s *settings) route(r *http.Request) Side {
	c := &s.cfg
	for i := range c.Overrides {
		if matches(&c.Overrides[i], r) {
			return c.Overrides[i].To
		}
	}
	if c.Mode == Shadow || c.Weight == 0 {
		return Legacy
	}
	if c.Weight == 100 || s.bucket(r) < c.Weight {
		return Modern
	}
	return Legacy
}

// bucket returns the bucket of the request's sticky key; a request without
// one is keyed by its client IP.
func (s *settings) bucket(r *http.Request) int {
	var k string
	switch s.cfg.StickyBy {
	case ByHeader:
		k = r.Header.Get(s.cfg.StickyName)
	case ByCookie:
		if c, err := r.Cookie(s.cfg.StickyName); err == nil {
			k = c.Value
		}
	case BySubject:
		k = jwtauth.Subject(r.Context())
	}
	if k != "" {
		return Bucket(k)
	}
	var buf [64]byte // the IP's text, without allocating it
	return bucketOf(s.cfg.Proxies.ClientIP(r).AppendTo(buf[:0]))
}

// Bucket returns the bucket in [0, 100) a sticky key falls in: the client
// goes to the new side while the weight is above it. It is the same for a
// key in every process and release: FNV-1a over the key's bytes, mixed by
// SplitMix64's finalizer so that similar keys spread evenly.
func Bucket(key string) int {
	return bucketOf(key)
}

func bucketOf[K string | []byte](key K) int {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return int(h % 100)
}

func matches(o *Override, r *http.Request) bool {
	if o.Header != "" {
		v := r.Header.Get(o.Header)
		return v != "" && (o.Value == "" || v == o.Value)
	}
	p, ok := jwtauth.FromContext(r.Context())
	if !ok {
		return false
	}
	return claimMatches(p.Claims[o.Claim], o.Value)
}

func claimMatches(v any, want string) bool {
	switch v := v.(type) {
	case string:
		return v != "" && (want == "" || v == want)
	case bool:
		return want == "" && v || want == strconv.FormatBool(v)
	case float64:
		return want == "" || want == strconv.FormatFloat(v, 'f', -1, 64)
	case []any:
		if want == "" {
			return len(v) > 0
		}
		for _, e := range v {
			if claimMatches(e, want) {
				return true
			}
		}
	}
	return false
}
