package gateway

import (
	"net"
	"net/http/httputil"
	"net/netip"
	"strings"
)

// setForwarded sets the outbound request's X-Forwarded-For,
// X-Forwarded-Host, X-Forwarded-Proto and Forwarded headers (RFC 7239).
// ReverseProxy has removed them from the outbound request; when the peer is
// a trusted proxy (Config.Proxies) the inbound ones are kept and the peer
// appended, otherwise they are set afresh from the connection, so a client
// cannot pass off addresses of its own choosing.
func (g *Gateway) setForwarded(pr *httputil.ProxyRequest) {
	in, h := pr.In, pr.Out.Header
	peer := peerAddr(in.RemoteAddr)
	trusted := peer.IsValid() && g.trusts(peer)
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	peerText := ""
	if peer.IsValid() {
		peerText = peer.String()
	}
	// The four headers' values share one backing array, each a slice of
	// its own capacity so that an Add to one does not write into another.
	vals := make([]string, 4)

	xff := peerText
	if trusted {
		if prior := strings.Join(in.Header.Values("X-Forwarded-For"), ", "); prior != "" {
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

	var buf [128]byte
	elem := buf[:0]
	if prior := in.Header.Values("Forwarded"); trusted && len(prior) > 0 {
		for _, p := range prior {
			elem = append(append(elem, p...), ", "...)
		}
	}
	elem = append(elem, "for="...)
	switch {
	case !peer.IsValid():
		elem = append(elem, "unknown"...)
	case peer.Is6():
		elem = append(append(append(elem, `"[`...), peer.WithZone("").String()...), `]"`...)
	default:
		elem = append(elem, peerText...)
	}
	elem = append(append(elem, ";proto="...), proto...)
	if in.Host != "" {
		elem = appendForwardedValue(append(elem, ";host="...), in.Host)
	}
	vals[3] = string(elem)
	h["Forwarded"] = vals[3:4:4]
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

// peerAddr parses a connection's remote address; the zero Addr when it is
// not an IP address (a Unix socket).
func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
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
