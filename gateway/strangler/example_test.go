package strangler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/bulwark-go/bulwark/gateway/strangler"
)

// Moving /orders to a new service: first in shadow mode, comparing its
// answers with the legacy one's, then a quarter of the users, sticky by the
// X-User header.
func Example() {
	legacy := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"id":1,"total":10,"served_at":"09:00"}`)
	})
	modern := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"id":1,"total":10,"served_at":"09:01"}`)
	})
	rt, err := strangler.New(legacy, modern, strangler.Config{
		Mode: strangler.Shadow, StickyBy: strangler.ByHeader, StickyName: "X-User",
		Shadow: strangler.ShadowConfig{IgnoreFields: []string{"served_at"}},
	})
	if err != nil {
		panic(err)
	}
	for range 3 {
		rt.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/orders/1", nil))
	}
	if err := rt.Close(context.Background()); err != nil { // waits for the copies
		panic(err)
	}
	fmt.Printf("%+v\n", rt.Stats())

	// The answers match: send a quarter of the users to the new side.
	if err := rt.Reconfigure(strangler.Config{Mode: strangler.Split, Weight: 25, StickyBy: strangler.ByHeader, StickyName: "X-User"}); err != nil {
		panic(err)
	}
	toNew := 0
	for i := range 1000 {
		req := httptest.NewRequest(http.MethodGet, "/orders/1", nil)
		req.Header.Set("X-User", fmt.Sprint("user-", i))
		if rt.Route(req) == strangler.Modern {
			toNew++
		}
	}
	fmt.Println(toNew > 200 && toNew < 300)
	// Output:
	// {Shadowed:3 Matched:3 Mismatched:0 Failed:0 Skipped:0}
	// true
}
