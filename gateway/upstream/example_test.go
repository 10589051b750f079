package upstream_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/gateway/upstream"
)

func Example() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "orders served %s", r.URL.Path)
	}))
	defer backend.Close()

	r := discovery.NewStatic()
	_ = r.Set("orders", []discovery.Endpoint{{Addr: backend.Listener.Addr().String()}})
	changed := make(chan struct{}, 1)
	pool, err := upstream.New(r, "orders", upstream.Config{
		Balancer: upstream.LeastOutstanding,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if _, ok := e.(upstream.EndpointsChanged); ok {
				changed <- struct{}{}
			}
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = pool.Run(context.Background()) }()
	defer pool.Close(context.Background())
	<-changed // the resolver's first set has arrived

	// A call of its own: retries through a bulwarkhttp.Transport over the
	// pool would go to other endpoints.
	req, _ := http.NewRequestWithContext(upstream.NewCall(context.Background()), http.MethodGet, "http://orders/orders/42", nil)
	resp, err := (&http.Client{Transport: pool}).Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	fmt.Println(len(pool.Endpoints()), "endpoint, healthy:", pool.Endpoints()[0].Healthy)
	// Output:
	// 200 orders served /orders/42
	// 1 endpoint, healthy: true
}
