package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway"
)

func jsonAnswer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(strings.ReplaceAll(body, "{path}", r.URL.Path)))
	}
}

// A compose route calls its parts through their upstreams' pools, a part
// may use an earlier part's field, and a part that fails with on_error:
// omit leaves a partial answer marked as such.
func TestComposeRoute(t *testing.T) {
	orders := upstream(t, jsonAnswer(`{"id": "7", "customer_id": "c1"}`))
	customers := upstream(t, jsonAnswer(`{"path": "{path}", "name": "Ada"}`))
	_, srv := start(t, doc(t, `
upstreams:
  orders: {endpoints: ["{orders}"]}
  customers: {endpoints: ["{customers}"]}
  shipping: {endpoints: ["{dead}"]}
routes:
  - name: details
    match: "GET /order-details/{id}"
    compose:
      deadline: 2s
      parts:
        - {key: order, upstream: orders, path: "/orders/{id}"}
        - {key: customer, upstream: customers, path: "/customers/{order.customer_id}"}
        - {key: shipping, upstream: shipping, path: "/shipments/{id}", on_error: omit}
`, "{orders}", orders, "{customers}", customers, "{dead}", deadAddr(t)), testConfig(), "")
	// The pools get their endpoints once Run runs them.
	var (
		status int
		body   string
		h      http.Header
	)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if status, body, h = get(t, srv.URL+"/order-details/7"); status == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	var got struct {
		Order    map[string]string `json:"order"`
		Customer map[string]string `json:"customer"`
		Partial  []string          `json:"_partial"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got.Order["customer_id"] != "c1" || got.Customer["path"] != "/customers/c1" || got.Customer["name"] != "Ada" {
		t.Fatalf("answer %s", body)
	}
	if h.Get("X-Partial") != "shipping" || len(got.Partial) != 1 || got.Partial[0] != "shipping" {
		t.Fatalf("partial marker: header %q, body %v", h.Get("X-Partial"), got.Partial)
	}
}

// A strangler route sends clients to the new upstream by weight, sticky by
// a header, and a reload with another weight moves them.
func TestStranglerRouteFollowsItsWeight(t *testing.T) {
	legacy, modern := upstream(t, echo("legacy")), upstream(t, echo("modern"))
	const route = `
upstreams: {legacy: {endpoints: ["{legacy}"]}, modern: {endpoints: ["{modern}"]}}
routes:
  - match: /history/
    upstream: legacy
    strangler: {new: modern, weight: {weight}, sticky_by: header, sticky_name: X-Client}
`
	g, srv := start(t, doc(t, route, "{legacy}", legacy, "{modern}", modern, "{weight}", "0"), testConfig(), "/history/")
	sides := func() map[string]int {
		n := map[string]int{}
		for i := range 200 {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/history/x", nil)
			req.Header.Set("X-Client", "client-"+string(rune('a'+i%26))+string(rune('a'+i/26)))
			_, _, h := send(t, req)
			n[h.Get("X-Upstream")]++
		}
		return n
	}
	if n := sides(); n["legacy"] != 200 {
		t.Fatalf("weight 0: %v, want every client on legacy", n)
	}
	if err := g.Reload(doc(t, route, "{legacy}", legacy, "{modern}", modern, "{weight}", "50")); err != nil {
		t.Fatal(err)
	}
	if n := sides(); n["modern"] < 60 || n["legacy"] < 60 {
		t.Fatalf("weight 50: %v, want both sides about half", n)
	}
	if err := g.Reload(doc(t, route, "{legacy}", legacy, "{modern}", modern, "{weight}", "100")); err != nil {
		t.Fatal(err)
	}
	if n := sides(); n["modern"] != 200 {
		t.Fatalf("weight 100: %v, want every client on modern", n)
	}
}

func TestComposeAndStranglerRoutesAreValidated(t *testing.T) {
	for yaml, want := range map[string]string{
		`
upstreams: {a: {endpoints: ["h:1"]}}
routes: [{match: /x, upstream: a, compose: {parts: [{key: p, upstream: a, path: /p}]}}]`: "routes[0].upstream: a route with compose",
		`
upstreams: {a: {endpoints: ["h:1"]}}
routes: [{match: /x, compose: {parts: [{key: p, upstream: b, path: /p}]}}]`: `routes[0].compose.parts[0].upstream: no upstream named "b"`,
		`
upstreams: {a: {endpoints: ["h:1"]}}
routes: [{match: /x, upstream: a, strangler: {new: a, weight: 10}}]`: "routes[0].strangler.new: must be another upstream",
		`
upstreams: {a: {endpoints: ["h:1"]}}
routes: [{match: /x, upstream: a, strangler: {new: c, weight: 10}}]`: `routes[0].strangler.new: no upstream named "c"`,
	} {
		_, err := gateway.Parse([]byte(yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want an error containing %q", yaml, err, want)
		}
	}
	// A strangler setting its own package refuses is named under the route.
	d, err := gateway.Parse([]byte(`
upstreams: {a: {endpoints: ["h:1"]}, b: {endpoints: ["h:2"]}}
routes: [{match: /x, upstream: a, strangler: {new: b, weight: 101}}]`))
	if err == nil {
		_, err = gateway.New(d, testConfig())
	}
	if err == nil || !strings.Contains(err.Error(), "routes[0].strangler") {
		t.Fatalf("weight 101: %v, want an error naming routes[0].strangler", err)
	}
}
