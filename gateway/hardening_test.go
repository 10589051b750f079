package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
)

// headers answers with the request's header fields, one "Name: value" a
// line.
func headers(w http.ResponseWriter, r *http.Request) {
	for _, k := range []string{"Connection", "Keep-Alive", "Te", "Proxy-Authorization", "X-Hop", "X-Kept", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Request-Id"} {
		for _, v := range r.Header.Values(k) {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
	w.Header().Set("Connection", "X-Resp-Hop")
	w.Header().Set("X-Resp-Hop", "dropped")
	w.Header().Set("Keep-Alive", "timeout=5")
}

func TestHopByHopHeadersAreDroppedAndForwardingHeadersSetFromTrustedPeersOnly(t *testing.T) {
	addr := upstream(t, headers)
	// What reaches the upstream of each style of forwarding headers, from
	// an untrusted and from a trusted peer, when the client sends both
	// styles: spoofed ones, or a trusted proxy's.
	xUntrusted := []string{"\nX-Forwarded-For: 127.0.0.1\n", "\nX-Forwarded-Host: 127.0.0.1:", "\nX-Forwarded-Proto: http\n"}
	xTrusted := []string{"\nX-Forwarded-For: 203.0.113.9, 127.0.0.1\n", "\nX-Forwarded-Host: evil.example\n", "\nX-Forwarded-Proto: https\n"}
	fUntrusted := []string{"\nForwarded: for=127.0.0.1;proto=http;host=\"127.0.0.1:" /* host:port is quoted */}
	fTrusted := []string{"\nForwarded: for=spoofed, for=127.0.0.1;proto=http;host=\"127.0.0.1:"}
	noX := []string{"X-Forwarded-"}
	noF := []string{"\nForwarded:"}
	spoofs := []string{"203.0.113.9", "evil.example", "spoofed", "https"}
	cat := func(ls ...[]string) []string { return slices.Concat(ls...) }
	for _, c := range []struct {
		name         string
		doc, route   string // forwarded_headers of the document and of the route
		trusted      bool
		want, absent []string
	}{
		{name: "default/untrusted", trusted: false, want: xUntrusted, absent: cat(noF, spoofs)},
		{name: "default/trusted", trusted: true, want: xTrusted, absent: cat(noF, []string{"spoofed"})},
		{name: "x-forwarded/untrusted", doc: "x-forwarded", want: xUntrusted, absent: cat(noF, spoofs)},
		{name: "x-forwarded/trusted", doc: "x-forwarded", trusted: true, want: xTrusted, absent: cat(noF, []string{"spoofed"})},
		{name: "rfc7239/untrusted", doc: "rfc7239", want: fUntrusted, absent: cat(noX, spoofs)},
		{name: "rfc7239/trusted", doc: "rfc7239", trusted: true, want: fTrusted, absent: cat(noX, []string{"203.0.113.9", "evil.example", "https"})},
		{name: "both/untrusted", doc: "both", want: cat(xUntrusted, fUntrusted), absent: spoofs},
		{name: "both/trusted", doc: "both", trusted: true, want: cat(xTrusted, fTrusted)},
		{name: "route rfc7239 over document x-forwarded/untrusted", doc: "x-forwarded", route: "rfc7239", want: fUntrusted, absent: cat(noX, spoofs)},
		{name: "route x-forwarded over document both/trusted", doc: "both", route: "x-forwarded", trusted: true, want: xTrusted, absent: cat(noF, []string{"spoofed"})},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := fmt.Sprintf(`
forwarded_headers: %q
upstreams: {h: {endpoints: ["{h}"]}}
routes: [{match: /, upstream: h, forwarded_headers: %q}]
`, c.doc, c.route)
			cfg := testConfig()
			if c.trusted {
				cfg.Proxies = bulwarkhttp.Proxies{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
			}
			_, srv := start(t, doc(t, d, "{h}", addr), cfg, "/")
			req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
			req.Header.Set("Connection", "X-Hop")
			req.Header.Set("X-Hop", "hop")
			req.Header.Set("Keep-Alive", "timeout=5")
			req.Header.Set("Te", "trailers, deflate")
			req.Header.Set("Proxy-Authorization", "Basic c2VjcmV0")
			req.Header.Set("X-Kept", "kept")
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			req.Header.Set("X-Forwarded-Host", "evil.example")
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("Forwarded", "for=spoofed")
			status, body, h := send(t, req)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			if !strings.Contains(body, "X-Kept: kept\n") {
				t.Errorf("an end-to-end header was lost:\n%s", body)
			}
			for _, hop := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization", "Te: deflate"} {
				if strings.Contains(body, hop) {
					t.Errorf("hop-by-hop %q reached the upstream:\n%s", hop, body)
				}
			}
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("upstream did not get %q:\n%s", w, body)
				}
			}
			for _, a := range c.absent {
				if strings.Contains(body, a) {
					t.Errorf("%q reached the upstream:\n%s", a, body)
				}
			}
			if h.Get("X-Resp-Hop") != "" || h.Get("Keep-Alive") != "" {
				t.Errorf("hop-by-hop response headers reached the client: %v", h)
			}
		})
	}
}

func TestPathsWithDotSegmentsNeverLeaveTheirRoute(t *testing.T) {
	const d = `
upstreams:
  api: {endpoints: ["{api}"]}
  admin: {endpoints: ["{admin}"]}
routes:
  - {match: /api/, upstream: api, strip_prefix: /api}
  - {match: /admin/, upstream: admin}
`
	_, srv := start(t, doc(t, d, "{api}", upstream(t, echo("api")), "{admin}", upstream(t, echo("admin"))), testConfig(), "/api/")
	for _, p := range []string{
		"/api/../admin/secret",
		"/api/%2e%2e/admin/secret",
		"/api/%2E%2E/admin/secret",
		"/api/..%2fadmin/secret",
		"/api/.%2e/admin/secret",
		"/api/..%5cadmin/secret",
		"/api/%2e/x",
		"/api/x/%00",
		"/api/..;/admin/secret",
		"/api/.;x/admin",
	} {
		// Send the raw path: a client would clean the unencoded forms.
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n", p)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.Header.Get("X-Upstream") != "" {
			t.Errorf("%s reached upstream %q with %q", p, resp.Header.Get("X-Upstream"), body)
		}
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusMovedPermanently {
			t.Errorf("%s: status %d, want 400 (or ServeMux's 301 to the cleaned path)", p, resp.StatusCode)
		}
	}
	// Doubly encoded dots are not dots: the upstream decodes them once, to
	// "%2e%2e", a name.
	status, body, h := get(t, srv.URL+"/api/%252e%252e/admin")
	if status != 200 || h.Get("X-Upstream") != "api" || body != "/%252e%252e/admin" {
		t.Errorf("doubly encoded: %d from %q with %q", status, h.Get("X-Upstream"), body)
	}
}

func TestServerSentEventsAreFlushedAsTheyCome(t *testing.T) {
	next := make(chan struct{})
	addr := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			http.NewResponseController(w).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	})
	_, srv := start(t, doc(t, `
upstreams: {events: {endpoints: ["{e}"]}}
routes: [{match: /events, upstream: events, timeout: 50ms}]
`, "{e}", addr), testConfig(), "")
	waitServedWith(t, srv.URL+"/events", func() { next <- struct{}{}; next <- struct{}{}; next <- struct{}{} })
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	for i := range 3 {
		// Each event arrives before the upstream sends the next: the
		// gateway does not buffer the stream.
		line, err := lines.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: %d\n", i) {
			t.Fatalf("event %d: %q, %v", i, line, err)
		}
		_, _ = lines.ReadString('\n')
		// The route's timeout bounds the wait for the response headers,
		// not the stream: events keep coming after it.
		time.Sleep(60 * time.Millisecond)
		next <- struct{}{}
	}
}

// waitServedWith is waitServed for an upstream that needs unblock to
// finish answering.
func waitServedWith(t *testing.T, url string, unblock func()) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			ok := resp.StatusCode != http.StatusServiceUnavailable
			if ok {
				unblock()
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not served within 5s: %v", url, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWebSocketUpgradesPassThrough(t *testing.T) {
	addr := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		// Echo lines until the client closes.
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("echo " + line)
			brw.Flush()
		}
	})
	_, srv := start(t, doc(t, `
upstreams: {ws: {endpoints: ["{ws}"]}}
routes: [{match: /ws, upstream: ws, timeout: 1s, policies: {retry: {max_attempts: 2}}}]
`, "{ws}", addr), testConfig(), "/ws")

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("upgrade answered %d, Upgrade %q", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
	for _, msg := range []string{"one", "two"} {
		fmt.Fprintf(conn, "%s\n", msg)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil || line != "echo "+msg+"\n" {
			t.Fatalf("after %q read %q, %v", msg, line, err)
		}
	}
}

func TestRequestsInProxyFormAreRoutedByTheirHost(t *testing.T) {
	// Sidecar mode: a client with the gateway as its HTTP proxy sends
	// "GET http://orders.internal/x"; the gateway routes it like any other.
	_, srv := start(t, doc(t, `
upstreams: {orders: {endpoints: ["{o}"]}}
routes: [{match: orders.internal/, upstream: orders}]
`, "{o}", upstream(t, echo("orders"))), testConfig(), "")
	proxy, _ := url.Parse(srv.URL)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := client.Get("http://orders.internal/orders/1?full=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			if string(body) != "/orders/1?full=1" || resp.Header.Get("X-Upstream") != "orders" {
				t.Fatalf("got %q from %q", body, resp.Header.Get("X-Upstream"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := client.Get("http://elsewhere.internal/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a host no route names: %d, want 404", resp.StatusCode)
	}
}

func TestAStranglerRouteWritesItsForwardingHeadersOnBothSides(t *testing.T) {
	const d = `
upstreams: {legacy: {endpoints: ["{legacy}"]}, modern: {endpoints: ["{modern}"]}}
routes:
  - {match: /h/, upstream: legacy, forwarded_headers: rfc7239, strangler: {new: modern, weight: {weight}}}
`
	side := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Side", name)
			headers(w, r)
		}
	}
	legacy, modern := upstream(t, side("legacy")), upstream(t, side("modern"))
	for weight, want := range map[string]string{"0": "legacy", "100": "modern"} {
		_, srv := start(t, doc(t, d, "{legacy}", legacy, "{modern}", modern, "{weight}", weight), testConfig(), "/h/")
		req, _ := http.NewRequest("GET", srv.URL+"/h/x", nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		req.Header.Set("Forwarded", "for=spoofed")
		status, body, h := send(t, req)
		if status != 200 || h.Get("X-Side") != want {
			t.Fatalf("weight %s: status %d from %q, want 200 from %s", weight, status, h.Get("X-Side"), want)
		}
		if !strings.Contains(body, "Forwarded: for=127.0.0.1;proto=http;") || strings.Contains(body, "X-Forwarded-") || strings.Contains(body, "spoofed") || strings.Contains(body, "203.0.113.9") {
			t.Errorf("the %s side did not get the route's rfc7239 headers alone:\n%s", want, body)
		}
	}
}

// patternTransport records the Pattern of the requests it sends.
type patternTransport struct {
	mu       sync.Mutex
	patterns []string
}

func (p *patternTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.patterns = append(p.patterns, r.Pattern)
	p.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func TestRoutesWithAndWithoutWildcardsSetThePatternTheyMatched(t *testing.T) {
	tr := &patternTransport{}
	cfg := testConfig()
	cfg.Transport = tr
	_, srv := start(t, doc(t, `
upstreams: {a: {endpoints: ["{a}"]}}
routes: [{match: "GET /literal/", upstream: a}, {match: "/items/{id}", upstream: a}]
`, "{a}", upstream(t, echo("a"))), cfg, "/literal/")
	for _, c := range []struct{ path, pattern string }{{"/literal/x", "GET /literal/"}, {"/items/7", "/items/{id}"}} {
		tr.mu.Lock()
		tr.patterns = nil
		tr.mu.Unlock()
		if status, body, _ := get(t, srv.URL+c.path); status != 200 {
			t.Fatalf("%s: status %d: %s", c.path, status, body)
		}
		tr.mu.Lock()
		got := slices.Clone(tr.patterns)
		tr.mu.Unlock()
		if len(got) != 1 || got[0] != c.pattern {
			t.Errorf("%s: the attempts carried patterns %q, want [%q]", c.path, got, c.pattern)
		}
	}
}
