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

	xff := ""
	if trusted {
		xff = strings.Join(in.Header.Values("X-Forwarded-For"), ", ")
	}
	if peer.IsValid() {
		if xff != "" {
			xff += ", "
		}
		xff += peer.String()
	}
	if xff != "" {
		h.Set("X-Forwarded-For", xff)
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
	h.Set("X-Forwarded-Host", host)
	h.Set("X-Forwarded-Proto", fproto)

	elem := "for=" + forwardedNode(peer) + ";proto=" + proto
	if in.Host != "" {
		elem += ";host=" + quoteForwarded(in.Host)
	}
	if prior := in.Header.Values("Forwarded"); trusted && len(prior) > 0 {
		elem = strings.Join(prior, ", ") + ", " + elem
	}
	h.Set("Forwarded", elem)
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

// forwardedNode is a Forwarded "for" value: an IPv4 address as it is, an
// IPv6 address quoted in brackets, "unknown" for neither.
func forwardedNode(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is6():
		return `"[` + a.WithZone("").String() + `]"`
	}
	return a.String()
}

// forwardedEscaper escapes a Forwarded quoted-string's backslashes and
// quotes; made once, since building a Replacer allocates.
var forwardedEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// quoteForwarded quotes v as a Forwarded parameter value when it is not a
// token (a host with a port holds ':').
func quoteForwarded(v string) string {
	for _, c := range []byte(v) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return `"` + forwardedEscaper.Replace(v) + `"`
		}
	}
	return v
}
