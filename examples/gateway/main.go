// Command gateway shows bulwark's API gateway in one process:
//
//	go run ./examples/gateway
//
// It starts three services on loopback (two endpoints of orders, one of
// which fails every request, and users), puts a gateway in front of them
// with a document like the one bulwark-gateway reads, and sends requests
// through it: routing with a stripped prefix, retries that go around the
// failing endpoint, a problem+json answer for a path no route takes, and a
// reload that adds a route and drops the failing endpoint while the
// gateway keeps serving. Then the edge: a token issuer serving its JWKS,
// routes that take only tokens with a scope (and forward the subject, never
// a header the client made up), a limit per subject, an order page composed
// from three services with a part too slow to wait for, and an order
// history strangled from a monolith as the weight rises.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/gateway"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gateway example:", err)
		os.Exit(1)
	}
}

const first = `
upstreams:
  orders: {endpoints: ["{orders-1}", "{orders-2}"]}
  users:  {endpoints: ["{users}"]}
routes:
  - match: /api/orders/
    upstream: orders
    strip_prefix: /api
    timeout: 2s
    policies:
      retry: {max_attempts: 3, backoff: 10ms}
      breaker: {consecutive_failures: 20}
  - match: /api/users/
    upstream: users
    strip_prefix: /api
`

// second drops the failing endpoint and adds a route that serves users
// under /v2, rewritten to the service's own /internal prefix.
const second = `
upstreams:
  orders: {endpoints: ["{orders-1}"]}
  users:  {endpoints: ["{users}"]}
routes:
  - match: /api/orders/
    upstream: orders
    strip_prefix: /api
    timeout: 2s
    policies:
      retry: {max_attempts: 3, backoff: 10ms}
  - match: /api/users/
    upstream: users
    strip_prefix: /api
  - match: /v2/users/
    upstream: users
    strip_prefix: /v2
    rewrite_prefix: /internal
`

func run(ctx context.Context, out io.Writer) error {
	services := map[string]*httptest.Server{}
	for _, name := range []string{"orders-1", "orders-2", "users"} {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s answered %s", name, r.URL.Path)
		})
		if name == "orders-2" {
			h = func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "orders-2 is broken", http.StatusServiceUnavailable)
			}
		}
		services[name] = httptest.NewServer(h)
		defer services[name].Close()
	}
	vars := strings.NewReplacer(
		"{orders-1}", services["orders-1"].Listener.Addr().String(),
		"{orders-2}", services["orders-2"].Listener.Addr().String(),
		"{users}", services["users"].Listener.Addr().String())

	doc, err := gateway.Parse([]byte(vars.Replace(first)))
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
	front := httptest.NewServer(g)
	defer front.Close()
	defer func() {
		front.Close()
		_ = g.Close(context.Background())
		<-ran
	}()

	get := func(path string) (int, string, error) {
		resp, err := http.Get(front.URL + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b)), err
	}
	// The pools learn their endpoints once Run runs.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if status, _, err := get("/api/users/"); err == nil && status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the gateway did not become ready")
		}
		time.Sleep(5 * time.Millisecond)
	}

	fmt.Fprintln(out, "routing (orders-2 fails every request; retries go to orders-1):")
	for i := 1; i <= 4; i++ {
		status, body, err := get(fmt.Sprintf("/api/orders/%d", i))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  GET /api/orders/%d -> %d %s\n", i, status, body)
	}
	status, body, err := get("/api/users/7")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  GET /api/users/7 -> %d %s\n", status, body)
	status, body, err = get("/nowhere")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  GET /nowhere -> %d %s\n", status, body)

	fmt.Fprintln(out, "reload: orders-2 removed, /v2/users/ added")
	doc, err = gateway.Parse([]byte(vars.Replace(second)))
	if err != nil {
		return err
	}
	if err := g.Reload(doc); err != nil {
		return err
	}
	for _, path := range []string{"/api/orders/5", "/v2/users/7"} {
		status, body, err := get(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  GET %s -> %d %s\n", path, status, body)
	}
	bad := &gateway.Document{Routes: []gateway.Route{{Match: "/", Upstream: "missing"}}}
	fmt.Fprintf(out, "reload of an invalid document refused: %v\n", g.Reload(bad))
	status, body, err = get("/v2/users/8")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  GET /v2/users/8 -> %d %s (the table in use stayed)\n", status, body)
	return edge(ctx, out)
}
