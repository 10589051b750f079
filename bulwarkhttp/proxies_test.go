package bulwarkhttp_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var trusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}

func request(remote string, header string, values ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for _, v := range values {
		r.Header.Add(header, v)
	}
	return r
}

func TestClientIPFromXForwardedFor(t *testing.T) {
	p := bulwarkhttp.Proxies{Trusted: trusted}
	for _, tc := range []struct {
		name   string
		remote string
		values []string
		want   string
	}{
		{"untrusted peer: header ignored", "203.0.113.9:1234", []string{"198.51.100.1"}, "203.0.113.9"},
		{"one proxy", "10.0.0.1:1234", []string{"198.51.100.1"}, "198.51.100.1"},
		{"right-most untrusted wins over a spoofed left part", "10.0.0.1:1234", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"chain of proxies", "10.0.0.1:1234", []string{"198.51.100.1, 10.9.9.9, 10.0.0.2"}, "198.51.100.1"},
		{"several fields in order", "10.0.0.1:1234", []string{"6.6.6.6, 198.51.100.1", "10.0.0.2"}, "198.51.100.1"},
		{"every hop trusted: the left-most", "10.0.0.1:1234", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"no header", "10.0.0.1:1234", nil, "10.0.0.1"},
		{"garbage stops at the last trusted", "10.0.0.1:1234", []string{"198.51.100.1, unknown, 10.0.0.2"}, "10.0.0.2"},
		{"empty element stops too", "10.0.0.1:1234", []string{"198.51.100.1,,"}, "10.0.0.1"},
		{"ports and brackets", "10.0.0.1:1234", []string{"[2001:db8::5]:443"}, "2001:db8::5"},
		{"address with port", "10.0.0.1:1234", []string{"198.51.100.1:5555"}, "198.51.100.1"},
		{"bare IPv6 in brackets", "10.0.0.1:1234", []string{"[2001:db8::6]"}, "2001:db8::6"},
		{"IPv4-mapped IPv6 as IPv4", "[::ffff:10.0.0.1]:1234", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"zones dropped", "10.0.0.1:1234", []string{"fe80::1%eth0"}, "fe80::1"},
		{"trusted IPv6 proxy", "[2001:db8:ffff::1]:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"peer without port", "10.0.0.1", []string{"198.51.100.1"}, "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, p.ClientIP(request(tc.remote, "X-Forwarded-For", tc.values...)).String())
		})
	}
	assert.False(t, p.ClientIP(request("@", "X-Forwarded-For", "198.51.100.1")).IsValid(), "a Unix socket peer has no address")
	assert.Equal(t, "10.0.0.1", bulwarkhttp.Proxies{Trusted: trusted, Header: "X-Real-IP"}.ClientIP(request("10.0.0.1:1", "X-Real-IP", "1.2.3.4")).String(),
		"an unknown header is not read")
}

func TestClientIPFromForwarded(t *testing.T) {
	p := bulwarkhttp.Proxies{Trusted: trusted, Header: bulwarkhttp.HeaderForwarded}
	for _, tc := range []struct {
		name   string
		values []string
		want   string
	}{
		{"RFC 7239 example", []string{`for=192.0.2.43, for=198.51.100.17;by=203.0.113.60;proto=http;host=example.com`}, "198.51.100.17"},
		{"quoted IPv6 with port", []string{`for="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{"case-insensitive name", []string{`For=198.51.100.1`}, "198.51.100.1"},
		{"quoted commas and semicolons stay inside", []string{`for=198.51.100.1;host="a,b;c", for=10.0.0.2`}, "198.51.100.1"},
		{"escapes", []string{`for="198.51.100.\1"`}, "198.51.100.1"},
		{"element without for", []string{`for=198.51.100.1, proto=https`}, "10.0.0.1"},
		{"unknown", []string{`for=198.51.100.1, for=unknown`}, "10.0.0.1"},
		{"obfuscated", []string{`for=_hidden, for=10.0.0.7`}, "10.0.0.7"},
		{"unterminated quote", []string{`for="198.51.100.1`}, "10.0.0.1"},
		{"X-Forwarded-For ignored", nil, "10.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request("10.0.0.1:1234", "Forwarded", tc.values...)
			r.Header.Set("X-Forwarded-For", "6.6.6.6")
			assert.Equal(t, tc.want, p.ClientIP(r).String())
		})
	}
}

// The rate limiter keys by the client's address as Proxies finds it: two
// clients behind one load balancer have a limit each, and a client cannot
// dodge its limit by sending X-Forwarded-For itself.
func TestRateLimiterKeysByTheClientBehindProxies(t *testing.T) {
	kcfg := ratelimit.DefaultKeyedConfig()
	kcfg.Limit, kcfg.Period, kcfg.Burst = 1, time.Hour, 1
	kcfg.Clock = clocktest.New(epoch)
	keyed, err := ratelimit.NewKeyed(kcfg)
	require.NoError(t, err)
	rl, err := bulwarkhttp.NewRateLimiter(keyed, bulwarkhttp.RateLimiterConfig{Proxies: bulwarkhttp.Proxies{Trusted: trusted}})
	require.NoError(t, err)
	h := rl.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	status := func(remote string, xff ...string) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request(remote, "X-Forwarded-For", xff...))
		return w.Code
	}
	assert.Equal(t, 200, status("10.0.0.1:1", "198.51.100.1"))
	assert.Equal(t, 200, status("10.0.0.1:2", "198.51.100.2"), "another client behind the same balancer")
	assert.Equal(t, 429, status("10.0.0.2:3", "7.7.7.7, 198.51.100.1"), "a spoofed left part does not help")
	assert.Equal(t, 200, status("203.0.113.1:4", "198.51.100.3"))
	assert.Equal(t, 429, status("203.0.113.1:5", "198.51.100.4"), "an untrusted peer is its own client, whatever it sends")
}

// FuzzClientIP feeds ClientIP arbitrary peers and headers: it never
// panics, an untrusted peer is always the answer, and any other answer is
// an address a trusted proxy recorded.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:1234", "198.51.100.1, 10.0.0.2", `for=198.51.100.1;proto=http, for="[2001:db8::1]:80"`, false)
	f.Add("10.0.0.1:1234", "unknown,,", `for="\"`, true)
	f.Add("203.0.113.9:1", "1.2.3.4", `for=1.2.3.4`, true)
	f.Add("[2001:db8:ffff::1]:443", "[::1]:5, fe80::1%eth0", `for=_x;by=y, For="[::ffff:1.2.3.4]"`, true)
	f.Add("@", "1.1.1.1", `for=1.1.1.1`, false)
	f.Add("10.0.0.1", `"a,b"`, `host="a,b;c";for=10.0.0.9, for=5.5.5.5`, true)
	f.Fuzz(func(t *testing.T, remote, xff, forwarded string, useForwarded bool) {
		p := bulwarkhttp.Proxies{Trusted: trusted}
		if useForwarded {
			p.Header = bulwarkhttp.HeaderForwarded
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header["X-Forwarded-For"] = []string{xff}
		r.Header["Forwarded"] = []string{forwarded}
		got := p.ClientIP(r)
		peer := bulwarkhttp.Proxies{}.ClientIP(r)
		if !peer.IsValid() {
			require.False(t, got.IsValid(), "no peer address, no client address")
			return
		}
		if !isTrusted(peer) || got == peer {
			require.Equal(t, peer, got, "an untrusted peer is the client")
			return
		}
		require.True(t, got.IsValid())
		header := xff
		if useForwarded {
			header = forwarded
		}
		require.True(t, strings.Contains(strings.ToLower(header), strings.ToLower(got.String())) || mentions(header, got),
			"%v is not in %q", got, header)
	})
}

func isTrusted(a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// mentions reports whether header holds an address equal to a in another
// spelling (an IPv4-mapped IPv6 address, a zero-padded IPv6 form).
func mentions(header string, a netip.Addr) bool {
	for _, f := range strings.FieldsFunc(header, func(r rune) bool { return strings.ContainsRune(` ,;="[]%\`, r) }) {
		for _, candidate := range []string{f, strings.TrimPrefix(strings.ToLower(f), "for=")} {
			if b, err := netip.ParseAddr(candidate); err == nil && b.Unmap() == a {
				return true
			}
			if ap, err := netip.ParseAddrPort(candidate); err == nil && ap.Addr().Unmap() == a {
				return true
			}
		}
	}
	return false
}
