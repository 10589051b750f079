package gateway

import (
	"net"
	"net/http/httputil"
	"net/netip"
	"strings"
)

// The values of Document.ForwardedHeaders and Route.ForwardedHeaders: which
// forwarding headers the gateway writes on the requests it sends upstream.
const (
	// ForwardedXForwarded writes X-Forwarded-For, X-Forwarded-Host and
	// X-Forwarded-Proto; it is the default ("").
	ForwardedXForwarded = "x-forwarded"
	// ForwardedRFC7239 writes the Forwarded header of RFC 7239 only.
	ForwardedRFC7239 = "rfc7239"
	// ForwardedBoth writes X-Forwarded-For, X-Forwarded-Host,
	// X-Forwarded-Proto and Forwarded.
	ForwardedBoth = "both"
)

// forwardStyle is a compiled forwarded_headers setting: which of the two
// header styles are written.
type forwardStyle uint8

const (
	forwardX       forwardStyle = 1 << iota // X-Forwarded-For, -Host, -Proto
	forward7239                             // Forwarded
	forwardDefault = forwardX
)

// parseForwardStyle compiles a forwarded_headers value; ok is false for an
// unknown one.
func parseForwardStyle(s string) (style forwardStyle, ok bool) {
	switch s {
	case "", ForwardedXForwarded:
		return forwardX, true
	case ForwardedRFC7239:
		return forward7239, true
	case ForwardedBoth:
		return forwardX | forward7239, true
	}
	return 0, false
}

// validateForwardedHeaders checks a forwarded_headers setting at path.
func validateForwardedHeaders(p *problems, path, s string) {
	if _, ok := parseForwardStyle(s); !ok {
		p.addf(path, "must be %q (the default), %q or %q, got %q", ForwardedXForwarded, ForwardedRFC7239, ForwardedBoth, s)
	}
}

// setForwarded sets the outbound request's forwarding headers of the
// route's style: X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto,
// the Forwarded header of RFC 7239, or both. ReverseProxy has removed all
// four from the outbound request, so a style not written never reaches the
// upstream. When the peer is a trusted proxy (Config.Proxies) the inbound
// headers of the style written are kept and the peer appended; otherwise
// they are set afresh from the connection, so a client cannot pass off
// addresses of its own choosing.
func (g *Gateway) setForwarded(pr *httputil.ProxyRequest, style forwardStyle) {
	in, h := pr.In, pr.Out.Header
	peer, peerText := peerAddr(in.RemoteAddr)
	trusted := peer.IsValid() && g.trusts(peer)
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	if style&forwardX != 0 {
		// The three headers' values share one backing array, each a
		// slice of its own capacity so that an Add to one does not
		// write into another.
		vals := make([]string, 3)
		xff := peerText
		if trusted {
			if prior := strings.Join(in.Header["X-Forwarded-For"], ", "); prior != "" {
				if xff != "" {
					xff = prior + ", " + xff
				} else {
					xff = prior
				}
			}
		}
		if xff != "" {
			vals[0] = xff
			h["X-Forwarded-For"] = vals[0:1:1]
		}
		host, fproto := in.Host, proto
		if trusted {
			if v := in.Header.Get("X-Forwarded-Host"); v != "" {
				host = v
			}
			if v := in.Header.Get("X-Forwarded-Proto"); v != "" {
				fproto = v
			}
		}
		vals[1], vals[2] = host, fproto
		h["X-Forwarded-Host"] = vals[1:2:2]
		h["X-Forwarded-Proto"] = vals[2:3:3]
	}
	if style&forward7239 == 0 {
		return
	}
	var buf [128]byte
	elem := buf[:0]
	if prior := in.Header["Forwarded"]; trusted && len(prior) > 0 {
		for _, p := range prior {
			elem = append(append(elem, p...), ", "...)
		}
	}
	elem = append(elem, "for="...)
	switch {
	case !peer.IsValid():
		elem = append(elem, "unknown"...)
	case peer.Is6():
		elem = append(peer.WithZone("").AppendTo(append(elem, `"[`...)), `]"`...)
	default:
		elem = append(elem, peerText...)
	}
	elem = append(append(elem, ";proto="...), proto...)
	if in.Host != "" {
		elem = appendForwardedValue(append(elem, ";host="...), in.Host)
	}
	h["Forwarded"] = []string{string(elem)}
}

func (g *Gateway) trusts(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range g.cfg.Proxies.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr parses a connection's remote address, and returns it with its
// text; the zero Addr and "" when it is not an IP address (a Unix socket).
// The text of an IPv4 "a.b.c.d:port" is the part of remote before the
// port, which netip has just checked is the address's own text, so no
// string is made for it.
func peerAddr(remote string) (netip.Addr, string) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		a := ap.Addr()
		if a.Is4() {
			return a, remote[:strings.LastIndexByte(remote, ':')]
		}
		a = a.Unmap()
		return a, a.String()
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, ""
	}
	a = a.Unmap()
	return a, a.String()
}

// appendForwardedValue appends v as a Forwarded parameter value: as it
// is when it is a token, otherwise (a host with a port holds ':') as a
// quoted-string with its backslashes and quotes escaped.
func appendForwardedValue(b []byte, v string) []byte {
	for _, c := range []byte(v) {
		if !isTokenChar(c) {
			b = append(b, '"')
			for _, c := range []byte(v) {
				if c == '\\' || c == '"' {
					b = append(b, '\\')
				}
				b = append(b, c)
			}
			return append(b, '"')
		}
	}
	return append(b, v...)
}

func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
