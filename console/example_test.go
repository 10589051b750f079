package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/console"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/policyset"
)

func Example() {
	doc, err := policyset.Parse([]byte(`{"policies": {"inventory": {
		"circuit_breaker": {"consecutive_failures": 5},
		"bulkhead":        {"max_concurrent": 20}
	}}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	// The console counts the policies' events to show their rates.
	var ops *console.Console
	set, err := policyset.New(doc, policyset.Config{Observer: bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
		ops.Observe(ctx, e)
	})})
	if err != nil {
		fmt.Println(err)
		return
	}
	ops, err = console.New(console.Config{
		Policies: set,
		Outboxes: map[string]console.Outbox{"orders": outbox.NewMemoryStore()},
		Tokens:   map[string]string{"alice": "a-long-random-operator-token"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ops.Close(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", ops))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/ops/api/state")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(strings.Contains(string(body), `"name":"inventory"`), strings.Contains(string(body), `"state":"closed"`))
	// Output: true true
}
