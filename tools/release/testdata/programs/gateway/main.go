// release-check: run

// Command gateway routes a request through the released gateway module: a
// document parsed from YAML, a service on loopback behind a route that
// strips a prefix, and the answer read back through the gateway.
package main

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

func main() {
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "orders got %s", r.URL.Path)
	}))
	defer orders.Close()
	doc, err := gateway.Parse([]byte(strings.ReplaceAll(`
upstreams: {orders: {endpoints: ["ADDR"]}}
routes: [{match: /api/orders/, upstream: orders, strip_prefix: /api, policies: {retry: {max_attempts: 2}}}]
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
	go g.Run(ctx)
	defer g.Close(context.Background())
	front := httptest.NewServer(g)
	defer front.Close()

	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get(front.URL + "/api/orders/7")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			fmt.Println(string(body))
			return
		}
	}
	log.Fatal("the gateway never answered 200")
}
