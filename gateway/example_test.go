package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/gateway"
)

// A gateway in front of one service: requests to /api/orders/... go to the
// orders service without the /api prefix, retried on failure.
func Example() {
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "orders got %s", r.URL.Path)
	}))
	defer orders.Close()

	doc, err := gateway.Parse([]byte(strings.ReplaceAll(`
upstreams:
  orders: {endpoints: ["ADDR"]}
routes:
  - match: /api/orders/
    upstream: orders
    strip_prefix: /api
    timeout: 2s
    policies:
      retry: {max_attempts: 3}
`, "ADDR", orders.Listener.Addr().String())))
	if err != nil {
		log.Fatal(err)
	}
	g, err := gateway.New(doc, gateway.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx) // runs the upstream pools
	defer g.Close(context.Background())

	front := httptest.NewServer(g)
	defer front.Close()
	for {
		resp, err := http.Get(front.URL + "/api/orders/42")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable { // the pool has not resolved yet
			time.Sleep(time.Millisecond)
			continue
		}
		fmt.Println(resp.StatusCode, string(body))
		break
	}
	// Output: 200 orders got /orders/42
}
