package gateway_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"

	"github.com/bulwark-go/bulwark/gateway"
)

// A route behind JWT authentication and per-client limits, and what the
// gateway's console component shows of it. (Until Run has resolved the
// pool, the upstream has no endpoint.)
func ExampleGateway_Component() {
	doc, err := gateway.Parse([]byte(`
jwt:
  issuers:
    - iss: https://id.example.com
      jwks_url: https://id.example.com/.well-known/jwks.json
      algorithms: [RS256]
      audiences: [orders-api]
upstreams:
  orders: {endpoints: ["127.0.0.1:9001"]}
routes:
  - name: orders
    match: /orders/
    upstream: orders
    auth: {scopes: [orders:read], forward_claims: {sub: X-User-Id}}
    limits: {key_by: [subject, ip], windows: [{name: burst, limit: 10, period: 1s}]}
    policies: {retry: {}, breaker: {}}
`))
	if err != nil {
		log.Fatal(err)
	}
	g, err := gateway.New(doc, gateway.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close(context.Background())
	c := g.Component()
	snap, err := c.Snapshot(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(snap))
	fmt.Println(c.Actions())
	// Output:
	// {"name":"gateway","routes":[{"name":"orders","pattern":"/orders/","upstream":"orders","policies":["auth","limits","breaker","retry"]}],"upstreams":[{"name":"orders","endpoints":[]}]}
	// [eject restore]
}
