package gateway

import (
	"net/url"
	"strings"
)

// hasDotSegment reports whether the decoded path p holds a "." or ".."
// segment, with "/" or "\" as separators (some servers take either) and
// with or without path parameters (";x", which some servers strip before
// resolving dots), or a NUL byte. The gateway refuses such paths rather
// than clean them: a request for "/api/../admin", or its percent-encoded
// forms ("/api/%2e%2e/admin", "/api/..%2fadmin"), which a route for "/api/"
// would otherwise send to an upstream that resolves it outside the prefix.
func hasDotSegment(p string) bool {
	if strings.IndexByte(p, 0) >= 0 {
		return true
	}
	if strings.IndexByte(p, '.') < 0 { // no segment can be "." or ".."
		return false
	}
	for seg := range strings.FieldsFuncSeq(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// rewritePath returns u's path with strip removed from its start and
// rewrite put in front, in both decoded (Path) and escaped (RawPath) forms.
// strip and rewrite hold only unreserved characters (Validate), so their
// escaped forms are themselves. A path that does not start with strip is
// left as it is, and an empty result becomes "/".
func rewritePath(u *url.URL, strip, rewrite string) {
	if strip == "" && rewrite == "" {
		return
	}
	escaped := u.EscapedPath()
	if strip != "" && strings.HasPrefix(u.Path, strip) && strings.HasPrefix(escaped, strip) {
		escaped = escaped[len(strip):]
	}
	escaped = rewrite + escaped
	if !strings.HasPrefix(escaped, "/") {
		escaped = "/" + escaped
	}
	decoded, err := url.PathUnescape(escaped)
	if err != nil { // EscapedPath returned it, so it is well-formed
		decoded = escaped
	}
	u.Path = decoded
	u.RawPath = ""
	if u.EscapedPath() != escaped {
		u.RawPath = escaped
	}
}
