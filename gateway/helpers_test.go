package gateway_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// upstream starts a loopback server answering with h and returns its
// "host:port".
func upstream(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// echo answers with the path and query it was sent, and the upstream's own
// name in a header.
func echo(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", name)
		_, _ = io.WriteString(w, r.URL.RequestURI())
	}
}

// doc expands {name} placeholders in a YAML document and parses it.
func doc(t *testing.T, yaml string, vars ...string) *gateway.Document {
	t.Helper()
	d, err := gateway.Parse([]byte(strings.NewReplacer(vars...).Replace(yaml)))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

// start makes a Gateway of d, runs it, serves it on loopback and waits
// until probe (a path on the gateway) is answered by an upstream. Cleanup
// stops all of it.
func start(t *testing.T, d *gateway.Document, cfg gateway.Config, probe string) (*gateway.Gateway, *httptest.Server) {
	t.Helper()
	g, err := gateway.New(d, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- g.Run(ctx) }()
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		srv.Close()
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		if err := g.Close(cctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
		cancel()
	})
	if probe != "" {
		waitServed(t, srv.URL+probe)
	}
	return g, srv
}

// waitServed waits until url is answered by something other than the
// gateway's "no endpoint" 503 (the pools get their endpoints once Run runs).
func waitServed(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not served within 5s: %v", url, errors.Join(err))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// get sends a request and returns the status, body and header.
func send(t *testing.T, req *http.Request) (int, string, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", req.URL, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

// testConfig is the Config of most tests: access log and errors to the
// test's log only when -v.
func testConfig() gateway.Config {
	return gateway.Config{Logger: slog.New(slog.DiscardHandler)}
}

func newGateway(d *gateway.Document) (*gateway.Gateway, error) {
	return gateway.New(d, testConfig())
}

// serveOnce serves one request with h, without a server.
func serveOnce(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}
