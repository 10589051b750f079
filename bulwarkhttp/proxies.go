package bulwarkhttp

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies finds a request's client address behind the proxies and load
// balancers the server trusts. The zero Proxies trusts none: the client is
// the connection's peer.
//
// Each trusted proxy appends the address of its own peer to one header:
// X-Forwarded-For (the de facto standard; AWS, Google Cloud and nginx
// write it) or Forwarded (RFC 7239). ClientIP starts from the connection's
// peer and, while the address in hand is a trusted proxy's, steps to the
// address that proxy recorded, right to left: the result is the right-most
// address that is not a trusted proxy. Only the addresses trusted proxies
// appended are read, so a client cannot choose its own address by sending
// the header itself.
//
// Name the header your proxies write: a client may send the other one, and
// a proxy that does not know it passes it on untouched.
type Proxies struct {
	// Trusted lists the networks of the proxies in front of the server.
	// Addresses are compared without their IPv6 zone, and IPv4-mapped IPv6
	// addresses as IPv4.
	Trusted []netip.Prefix

	// Header is the header the trusted proxies append to:
	// HeaderXForwardedFor or HeaderForwarded (in any letter case). ""
	// means HeaderXForwardedFor.
	Header string
}

// valid reports whether Header names a header ClientIP reads.
func (p Proxies) valid() bool {
	switch http.CanonicalHeaderKey(p.Header) {
	case "", HeaderXForwardedFor, HeaderForwarded:
		return true
	}
	return false
}

// ClientIP returns the address of r's client: the connection's peer when
// it is not a trusted proxy, and otherwise the right-most address in the
// forwarding header that is not a trusted proxy's. When the header runs
// out first (every hop is trusted), it returns the left-most hop; when it
// holds something that is not an address before an untrusted one is found
// ("unknown", an obfuscated identifier, garbage), it returns the last
// trusted address, so that the client never chooses the result. It
// returns the zero Addr when the peer's own address (Request.RemoteAddr)
// is not an IP address (a Unix socket), and reads no header when Header
// names neither X-Forwarded-For nor Forwarded.
func (p Proxies) ClientIP(r *http.Request) netip.Addr {
	addr := parseHop(r.RemoteAddr)
	if !addr.IsValid() || !p.trusts(addr) || !p.valid() {
		return addr
	}
	var hops []string
	if http.CanonicalHeaderKey(p.Header) == HeaderForwarded {
		hops = forwardedFor(r.Header.Values(HeaderForwarded))
	} else {
		hops = xForwardedFor(r.Header.Values(HeaderXForwardedFor))
	}
	for i := len(hops) - 1; i >= 0; i-- {
		next := parseHop(hops[i])
		if !next.IsValid() {
			return addr
		}
		addr = next
		if !p.trusts(addr) {
			return addr
		}
	}
	return addr
}

func (p Proxies) trusts(a netip.Addr) bool {
	for _, prefix := range p.Trusted {
		if prefix.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop parses one address as proxies record it: an IP address with or
// without a port, an IPv6 address in brackets with or without a port. It
// returns the zero Addr for anything else.
func parseHop(s string) netip.Addr {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		switch {
		case perr == nil:
			a = ap.Addr()
		case len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']':
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
				return netip.Addr{}
			}
		default:
			return netip.Addr{}
		}
	}
	return a.Unmap().WithZone("")
}

// xForwardedFor returns the hops of X-Forwarded-For fields, left to right.
func xForwardedFor(fields []string) []string {
	var hops []string
	for _, f := range fields {
		hops = append(hops, strings.Split(f, ",")...)
	}
	return hops
}

// forwardedFor returns the "for" parameter of each element of Forwarded
// fields (RFC 7239), left to right, unquoted: "" for an element that has
// none or is malformed.
func forwardedFor(fields []string) []string {
	var hops []string
	for _, f := range fields {
		for _, element := range splitQuoted(f, ',') {
			hops = append(hops, forParam(element))
		}
	}
	return hops
}

// forParam returns the unquoted value of an element's "for" parameter, or
// "" when the element has none or is malformed.
func forParam(element string) string {
	for _, pair := range splitQuoted(element, ';') {
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(name, "for") {
			continue
		}
		if len(value) > 0 && value[0] == '"' {
			v, ok := unquote(value)
			if !ok {
				return ""
			}
			return v
		}
		return value
	}
	return ""
}

// splitQuoted splits s at each sep outside a quoted-string.
func splitQuoted(s string, sep byte) []string {
	var parts []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++ // the escaped character
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote returns the content of a quoted-string that is all of s.
func unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		switch c {
		case '\\':
			i++
			if i == len(s)-1 {
				return "", false
			}
			c = s[i]
		case '"':
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// RemoteIP returns the IP address of the connection a request came on
// (Request.RemoteAddr without its port), or RemoteAddr itself when it has
// no port. Behind proxies, use Proxies.ClientIP.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
