package compose

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// part is a checked Part.
type part struct {
	index     int
	key       string
	transport http.RoundTripper
	method    string
	base      string // scheme://host
	segments  []segment
	headers   []string // canonical
	timeout   time.Duration
	merge     bool
	onError   OnError
	fallback  json.RawMessage
	fbFields  map[string]json.RawMessage // the fallback's fields, for a Merge part
	deps      []int                      // indexes of the parts it waits for
	depParts  []*part
	needed    bool // another part reads its fields
}

// segment is a literal piece of a path template or a placeholder.
type segment struct {
	literal string
	value   string   // a path value's name
	dep     int      // the part a field placeholder reads; -1 for none
	field   []string // the field's path in that part's answer
	query   bool     // the placeholder stands in the query
}

// alwaysPassed are the incoming headers every part receives.
var alwaysPassed = []string{"Traceparent", "Tracestate", "Baggage", "X-Request-Id"}

// forwardingHeaders may not be passed on: the client's copies are not to
// be believed, and a part's request is not a proxied one.
var forwardingHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

func compilePart(i int, p Part, upstreams map[string]http.RoundTripper, index map[string]int) (*part, error) {
	field := func(name string) string { return fmt.Sprintf("compose: Config.Parts[%d].%s", i, name) }
	rt, ok := upstreams[p.Upstream]
	if !ok || rt == nil {
		return nil, fmt.Errorf("%s must name a transport given to New, got %q", field("Upstream"), p.Upstream)
	}
	cp := &part{index: i, key: p.Key, transport: rt, method: p.Method, merge: p.Merge, onError: p.OnError}
	if cp.method == "" {
		cp.method = http.MethodGet
	}
	if !validToken(cp.method) {
		return nil, fmt.Errorf("%s must be an HTTP method token, got %q", field("Method"), p.Method)
	}
	cp.base = p.BaseURL
	if cp.base == "" {
		cp.base = "http://" + p.Upstream
	}
	u, err := url.Parse(cp.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("%s must be http:// or https:// and a host, with no path or query, got %q", field("BaseURL"), cp.base)
	}
	cp.base = u.Scheme + "://" + u.Host
	if cp.segments, err = parseTemplate(p.Path, index, p.Key); err != nil {
		return nil, fmt.Errorf("%s %w", field("Path"), err)
	}
	for _, s := range cp.segments {
		if s.dep >= 0 && !slices.Contains(cp.deps, s.dep) {
			cp.deps = append(cp.deps, s.dep)
		}
	}
	cp.headers = append(cp.headers, alwaysPassed...)
	for j, h := range p.Headers {
		if !validToken(h) {
			return nil, fmt.Errorf("%s[%d] must be a header name, got %q", field("Headers"), j, h)
		}
		if slices.Contains(forwardingHeaders, http.CanonicalHeaderKey(h)) {
			return nil, fmt.Errorf("%s[%d] must not be a forwarding header (a client could set it to any address), got %q", field("Headers"), j, h)
		}
		if h = http.CanonicalHeaderKey(h); !slices.Contains(cp.headers, h) {
			cp.headers = append(cp.headers, h)
		}
	}
	if d := time.Duration(p.Timeout); d != 0 && (d < minDuration || d > maxDuration) {
		return nil, fmt.Errorf("%s must be in [%v, %v] or 0 (no bound but Config.Deadline), got %v", field("Timeout"), minDuration, maxDuration, d)
	}
	cp.timeout = time.Duration(p.Timeout)
	switch cp.onError {
	case "":
		cp.onError = Fail
	case Fail, Omit, UseFallback:
	default:
		return nil, fmt.Errorf("%s must be %q, %q or %q, got %q", field("OnError"), Fail, Omit, UseFallback, p.OnError)
	}
	switch {
	case cp.onError == UseFallback && len(p.Fallback) == 0:
		return nil, fmt.Errorf("%s is required with OnError %q", field("Fallback"), UseFallback)
	case cp.onError != UseFallback && len(p.Fallback) != 0:
		return nil, fmt.Errorf("%s is used only with OnError %q, got OnError %q", field("Fallback"), UseFallback, cp.onError)
	case len(p.Fallback) != 0 && !json.Valid(p.Fallback):
		return nil, fmt.Errorf("%s must be valid JSON, got %s", field("Fallback"), p.Fallback)
	}
	cp.fallback = slices.Clone(p.Fallback)
	if cp.merge && cp.fallback != nil {
		if err := json.Unmarshal(cp.fallback, &cp.fbFields); err != nil || cp.fbFields == nil {
			return nil, fmt.Errorf("%s must be a JSON object for a Merge part, got %s", field("Fallback"), p.Fallback)
		}
	}
	return cp, nil
}

// parseTemplate splits a path template into literals and placeholders.
func parseTemplate(path string, index map[string]int, self string) ([]segment, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("must start with '/', got %q", path)
	}
	var segs []segment
	inQuery := false
	rest := path
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		lit := rest
		if open >= 0 {
			lit = rest[:open]
		}
		if strings.ContainsRune(lit, '}') {
			return nil, fmt.Errorf("has a '}' without '{' in %q", path)
		}
		if lit != "" {
			segs = append(segs, segment{literal: lit, dep: -1})
			inQuery = inQuery || strings.ContainsRune(lit, '?')
		}
		if open < 0 {
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("has a '{' without '}' in %q", path)
		}
		name := rest[open+1 : open+end]
		rest = rest[open+end+1:]
		s := segment{dep: -1, query: inQuery}
		if key, f, ok := strings.Cut(name, "."); ok {
			d, known := index[key]
			if !known || key == self {
				return nil, fmt.Errorf("placeholder {%s} must name another part's field, and %q is not another part", name, key)
			}
			s.dep, s.field = d, strings.Split(f, ".")
			if slices.Contains(s.field, "") {
				return nil, fmt.Errorf("placeholder {%s} has an empty field name", name)
			}
		} else {
			if !validKey(name) {
				return nil, fmt.Errorf("placeholder {%s} must be a path value name (letters, digits, '_', '-') or key.field", name)
			}
			s.value = name
		}
		segs = append(segs, s)
	}
	return segs, nil
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

// url renders the part's URL for r, reading its dependencies' answers.
func (p *part) url(r *http.Request, results []result) (string, error) {
	var b strings.Builder
	b.WriteString(p.base)
	for _, s := range p.segments {
		var v string
		switch {
		case s.literal != "":
			b.WriteString(s.literal)
			continue
		case s.dep >= 0:
			var err error
			if v, err = results[s.dep].field(s.field); err != nil {
				return "", err
			}
		default:
			if v = r.PathValue(s.value); v == "" {
				return "", fmt.Errorf("compose: part %q: the request has no path value {%s}", p.key, s.value)
			}
		}
		if s.query {
			b.WriteString(url.QueryEscape(v))
		} else {
			b.WriteString(url.PathEscape(v))
		}
	}
	return b.String(), nil
}

// field returns the scalar at path in the part's answer, as text.
func (res *result) field(path []string) (string, error) {
	v := res.decoded
	for _, name := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("compose: field %q of part %q: not an object", strings.Join(path, "."), res.key)
		}
		if v, ok = obj[name]; !ok {
			return "", fmt.Errorf("compose: field %q of part %q: missing", strings.Join(path, "."), res.key)
		}
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return "", fmt.Errorf("compose: field %q of part %q: not a string, number or boolean", strings.Join(path, "."), res.key)
}
