// release-check: run

// Command console serves the operations console of a policy set on a test
// server and reads its state: the policy and its breaker, closed.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/bulwark-go/bulwark/console"
	"github.com/bulwark-go/bulwark/policyset"
)

func main() {
	doc, err := policyset.Parse([]byte(`{"policies": {"inventory": {"circuit_breaker": {}, "bulkhead": {"max_concurrent": 10}}}}`))
	if err != nil {
		log.Fatal(err)
	}
	set, err := policyset.New(doc, policyset.Config{})
	if err != nil {
		log.Fatal(err)
	}
	ops, err := console.New(console.Config{Policies: set, ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer ops.Close(context.Background())
	srv := httptest.NewServer(http.StripPrefix("/ops", ops))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/ops/api/state")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var st console.State
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		log.Fatal(err)
	}
	p := st.Policies[0]
	fmt.Println(p.Name, p.Breaker.State, p.Bulkhead.Limit)
	if p.Name != "inventory" || p.Breaker.State != "closed" {
		log.Fatalf("unexpected state %+v", p)
	}
}
