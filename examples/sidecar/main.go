// Command sidecar shows the gateway as a sidecar: a plain program, with no
// resilience code of its own, calls a flaky service through a bulwark
// gateway on loopback and its calls become resilient.
//
//	go run ./examples/sidecar
//
// The inventory service fails every other request with 503. The program
// calls http://inventory.internal/items/N with an ordinary http.Client,
// first directly, then with the sidecar as its HTTP proxy (as setting
// HTTP_PROXY=http://127.0.0.1:PORT does for most programs, whatever their
// language). The sidecar routes the proxied requests by their host and
// retries the failures, so every call succeeds. In production the sidecar
// is the bulwark-gateway command beside the service:
//
//	bulwark-gateway -config egress.yaml -listen 127.0.0.1:15001
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/gateway"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sidecar example:", err)
		os.Exit(1)
	}
}

// egress is the sidecar's document: the services the program calls, by
// the host names it uses, with the policies its calls get.
const egress = `
upstreams:
  inventory: {endpoints: ["{inventory}"]}
routes:
  - match: inventory.internal/
    upstream: inventory
    timeout: 2s
    policies:
      retry: {max_attempts: 3, backoff: 5ms}
      breaker: {failure_rate: 90, minimum_calls: 50}
`

func run(ctx context.Context, out io.Writer) error {
	var calls atomic.Int64
	inventory := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%2 == 0 {
			http.Error(w, "inventory hiccup", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "item %s in stock", strings.TrimPrefix(r.URL.Path, "/items/"))
	}))
	defer inventory.Close()

	// The sidecar.
	doc, err := gateway.Parse([]byte(strings.ReplaceAll(egress, "{inventory}", inventory.Listener.Addr().String())))
	if err != nil {
		return err
	}
	g, err := gateway.New(doc, gateway.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- g.Run(runCtx) }()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sidecar := &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second}
	go sidecar.Serve(l)
	defer func() {
		_ = sidecar.Shutdown(context.Background())
		_ = g.Close(context.Background())
		<-ran
	}()
	proxyURL := &url.URL{Scheme: "http", Host: l.Addr().String()}

	// The plain program: an ordinary client, once resolving the service
	// itself, once through the sidecar.
	direct := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			// What DNS would do for inventory.internal.
			return (&net.Dialer{}).DialContext(ctx, network, inventory.Listener.Addr().String())
		},
	}}
	proxied := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	defer direct.CloseIdleConnections()
	defer proxied.CloseIdleConnections()

	if err := waitReady(proxied); err != nil {
		return err
	}
	for _, c := range []struct {
		name   string
		client *http.Client
	}{{"directly", direct}, {"through the sidecar", proxied}} {
		ok := 0
		for i := 1; i <= 10; i++ {
			resp, err := c.client.Get(fmt.Sprintf("http://inventory.internal/items/%d", i))
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ok++
			}
		}
		fmt.Fprintf(out, "%s: %d of 10 calls succeeded\n", c.name, ok)
	}
	return nil
}

// waitReady waits until the sidecar's pool has its endpoints.
func waitReady(c *http.Client) error {
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err := c.Get("http://inventory.internal/items/0")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the sidecar did not become ready: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
