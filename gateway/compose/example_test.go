package compose_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/gateway/compose"
)

// An order page composed from the order, its customer (a second step that
// reads the order's customer_id) and its shipping status, which may be left
// out when the shipping service is slow.
func Example() {
	services := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/orders/7":
			fmt.Fprint(w, `{"id":7,"customer_id":"c1"}`)
		case r.URL.Path == "/customers/c1":
			fmt.Fprint(w, `{"name":"Ada"}`)
		case strings.HasPrefix(r.URL.Path, "/shipping/"):
			<-r.Context().Done() // too slow
		}
	}))
	defer services.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()

	h, err := compose.New(map[string]http.RoundTripper{"shop": tr}, compose.Config{
		Deadline: compose.Duration(time.Second),
		Parts: []compose.Part{
			{Key: "order", Upstream: "shop", BaseURL: services.URL, Path: "/orders/{id}"},
			{Key: "customer", Upstream: "shop", BaseURL: services.URL, Path: "/customers/{order.customer_id}"},
			{Key: "shipping", Upstream: "shop", BaseURL: services.URL, Path: "/shipping/{id}",
				Timeout: compose.Duration(50 * time.Millisecond), OnError: compose.UseFallback, Fallback: json.RawMessage(`{"status":"unknown"}`)},
		},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /order-page/{id}", h)
	front := httptest.NewServer(mux)
	defer front.Close()

	resp, err := http.Get(front.URL + "/order-page/7")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, resp.Header.Get(compose.HeaderPartial))
	fmt.Print(string(body))
	// Output:
	// 200 shipping
	// {"_partial":["shipping"],"customer":{"name":"Ada"},"order":{"id":7,"customer_id":"c1"},"shipping":{"status":"unknown"}}
}
