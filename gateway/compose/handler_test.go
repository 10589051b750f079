package compose_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark/gateway/compose"
)

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	return m
}

func TestAllPartsAnswer(t *testing.T) {
	var seen sync.Map
	orders := server(t, func(w http.ResponseWriter, r *http.Request) {
		seen.Store("orders", r.Header.Clone())
		assert.Equal(t, "/orders/42", r.URL.Path)
		jsonAnswer(`{"id":42,"customer_id":"c 7","total":12.5}`)(w, r)
	})
	customers := server(t, func(w http.ResponseWriter, r *http.Request) {
		seen.Store("customers", r.Header.Clone())
		assert.Equal(t, "/customers/c 7", r.URL.Path)
		jsonAnswer(`{"name":"Ada"}`)(w, r)
	})
	stock := server(t, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "sku=a%26b", r.URL.RawQuery)
		jsonAnswer(`{"in_stock":true,"warehouse":"north"}`)(w, r)
	})
	tr := transport(t)
	h, err := compose.New(map[string]http.RoundTripper{"shop": tr}, compose.Config{Parts: []compose.Part{
		{Key: "order", Upstream: "shop", BaseURL: orders.URL, Path: "/orders/{id}", Headers: []string{"authorization"}},
		{Key: "customer", Upstream: "shop", BaseURL: customers.URL, Path: "/customers/{order.customer_id}"},
		{Key: "stock", Upstream: "shop", BaseURL: stock.URL, Path: "/stock?sku={sku}", Merge: true},
	}})
	require.NoError(t, err)
	header := http.Header{
		"Traceparent":   {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		"X-Request-Id":  {"req-1"},
		"Authorization": {"Bearer t"},
		"Cookie":        {"secret=1"},
	}
	rec := serve(h, "GET /view/{id}/{sku}", "/view/42/a&b", header)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Empty(t, rec.Header().Get(compose.HeaderPartial))
	assert.Equal(t, map[string]any{
		"order":     map[string]any{"id": 42.0, "customer_id": "c 7", "total": 12.5},
		"customer":  map[string]any{"name": "Ada"},
		"in_stock":  true,
		"warehouse": "north",
	}, decode(t, rec.Body.String()))

	o, _ := seen.Load("orders")
	oh := o.(http.Header)
	assert.Equal(t, header.Get("Traceparent"), oh.Get("Traceparent"))
	assert.Equal(t, "req-1", oh.Get("X-Request-Id"))
	assert.Equal(t, "Bearer t", oh.Get("Authorization"), "a listed header is passed on")
	assert.Empty(t, oh.Get("Cookie"), "an unlisted header is not")
	c, _ := seen.Load("customers")
	ch := c.(http.Header)
	assert.Equal(t, "req-1", ch.Get("X-Request-Id"))
	assert.Empty(t, ch.Get("Authorization"), "listed for another part only")
}

func TestSlowPartPastItsTimeout(t *testing.T) {
	fast := server(t, jsonAnswer(`{"ok":true}`))
	slow := server(t, stall)
	for _, tc := range []struct {
		name     string
		onError  compose.OnError
		fallback string
		status   int
		want     map[string]any
	}{
		{"fallback", compose.UseFallback, `{"eta":"unknown"}`, http.StatusOK,
			map[string]any{"fast": map[string]any{"ok": true}, "slow": map[string]any{"eta": "unknown"}, "_partial": []any{"slow"}}},
		{"omit", compose.Omit, "", http.StatusOK,
			map[string]any{"fast": map[string]any{"ok": true}, "_partial": []any{"slow"}}},
		{"fail", compose.Fail, "", http.StatusGatewayTimeout, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fb json.RawMessage
			if tc.fallback != "" {
				fb = json.RawMessage(tc.fallback)
			}
			ev := &events{}
			h, err := compose.New(map[string]http.RoundTripper{"u": transport(t)}, compose.Config{Observer: ev, Name: "view", Parts: []compose.Part{
				{Key: "fast", Upstream: "u", BaseURL: fast.URL, Path: "/"},
				{Key: "slow", Upstream: "u", BaseURL: slow.URL, Path: "/", Timeout: compose.Duration(50 * time.Millisecond), OnError: tc.onError, Fallback: fb},
			}})
			require.NoError(t, err)
			start := time.Now()
			rec := serve(h, "GET /", "/", nil)
			assert.Less(t, time.Since(start), 2*time.Second)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.want == nil {
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
				assert.Contains(t, rec.Body.String(), `"status":504`)
				return
			}
			assert.Equal(t, "slow", rec.Header().Get(compose.HeaderPartial))
			assert.Equal(t, tc.want, decode(t, rec.Body.String()))
			var slowDone compose.PartDone
			for _, e := range ev.list() {
				if d, ok := e.(compose.PartDone); ok && d.Part == "slow" {
					slowDone = d
				}
			}
			assert.Equal(t, string(tc.onError), slowDone.Outcome)
			assert.ErrorIs(t, slowDone.Err, context.DeadlineExceeded)
			assert.GreaterOrEqual(t, slowDone.Elapsed, 50*time.Millisecond)
			assert.Equal(t, "view", slowDone.Component())
		})
	}
}

func TestPartDown(t *testing.T) {
	up := server(t, jsonAnswer(`{"a":1}`))
	down := server(t, jsonAnswer(`{}`))
	downURL := down.URL
	down.Close()
	cfg := func(onError compose.OnError) compose.Config {
		return compose.Config{Parts: []compose.Part{
			{Key: "up", Upstream: "u", BaseURL: up.URL, Path: "/"},
			{Key: "down", Upstream: "u", BaseURL: downURL, Path: "/", OnError: onError},
		}}
	}
	h, err := compose.New(map[string]http.RoundTripper{"u": transport(t)}, cfg(compose.Fail))
	require.NoError(t, err)
	rec := serve(h, "GET /", "/", nil)
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	assert.Contains(t, rec.Body.String(), `Part \"down\"`)

	h, err = compose.New(map[string]http.RoundTripper{"u": transport(t)}, cfg(compose.Omit))
	require.NoError(t, err)
	rec = serve(h, "GET /", "/", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "down", rec.Header().Get(compose.HeaderPartial))
	assert.Equal(t, map[string]any{"up": map[string]any{"a": 1.0}, "_partial": []any{"down"}}, decode(t, rec.Body.String()))
}

func TestBadAnswersFailThePart(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"status 500", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "{}", 500) }},
		{"not JSON", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }},
		{"too large", jsonAnswer(`"` + strings.Repeat("x", 200) + `"`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := server(t, tc.h)
			h, err := compose.New(map[string]http.RoundTripper{"u": transport(t)}, compose.Config{MaxPartBytes: 100, Parts: []compose.Part{
				{Key: "p", Upstream: "u", BaseURL: s.URL, Path: "/", OnError: compose.Omit},
			}})
			require.NoError(t, err)
			rec := serve(h, "GET /", "/", nil)
			assert.Equal(t, `{"_partial":["p"]}`+"\n", rec.Body.String())
		})
	}
}

func TestWholeDeadline(t *testing.T) {
	fast := server(t, jsonAnswer(`1`))
	slow := server(t, stall)
	parts := func(onError compose.OnError) []compose.Part {
		return []compose.Part{
			{Key: "fast", Upstream: "u", BaseURL: fast.URL, Path: "/"},
			{Key: "slow", Upstream: "u", BaseURL: slow.URL, Path: "/", OnError: onError},
			// waits for slow, so it has not started at the deadline
			{Key: "after", Upstream: "u", BaseURL: fast.URL, Path: "/{slow.id}", OnError: compose.Omit},
		}
	}
	h, err := compose.New(map[string]http.RoundTripper{"u": transport(t)}, compose.Config{Deadline: compose.Duration(500 * time.Millisecond), Parts: parts(compose.Omit)})
	require.NoError(t, err)
	start := time.Now()
	rec := serve(h, "GET /", "/", nil)
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, 500*time.Millisecond)
	assert.Less(t, elapsed, 2*time.Second)
	assert.Equal(t, "slow,after", rec.Header().Get(compose.HeaderPartial))
	assert.Equal(t, `{"_partial":["slow","after"],"fast":1}`+"\n", rec.Body.String())

	h, err = compose.New(map[string]http.RoundTripper{"u": transport(t)}, compose.Config{Deadline: compose.Duration(500 * time.Millisecond), Parts: parts(compose.Fail)})
	require.NoError(t, err)
	rec = serve(h, "GET /", "/", nil)
	assert.Equal(t, http.StatusGatewayTimeout, rec.Code)
}

func TestDependencyChain(t *testing.T) {
	var order []string
	var mu sync.Mutex
	s := server(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		order = append(order, r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/orders/1":
			jsonAnswer(`{"customer":{"id":12345678901234567}}`)(w, r)
		case "/customers/12345678901234567":
			jsonAnswer(`{"region":"eu"}`)(w, r)
		case "/regions/eu":
			jsonAnswer(`{"vat":0.2}`)(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	ev := &events{}
	h, err := compose.New(map[string]http.RoundTripper{"u": transport(t)}, compose.Config{Observer: ev, Parts: []compose.Part{
		{Key: "region", Upstream: "u", BaseURL: s.URL, Path: "/regions/{customer.region}"},
		{Key: "customer", Upstream: "u", BaseURL: s.URL, Path: "/customers/{order.customer.id}"},
		{Key: "order", Upstream: "u", BaseURL: s.URL, Path: "/orders/{id}"},
	}})
	require.NoError(t, err)
	rec := serve(h, "GET /o/{id}", "/o/1", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, []string{"/orders/1", "/customers/12345678901234567", "/regions/eu"}, order, "each step after the one it reads, big numbers exact")
	assert.Equal(t, `{"customer":{"region":"eu"},"order":{"customer":{"id":12345678901234567}},"region":{"vat":0.2}}`+"\n", rec.Body.String())

	// a failed step fails the steps after it, without calling them
	order = nil
	h, err = compose.New(map[string]http.RoundTripper{"u": transport(t)}, compose.Config{Parts: []compose.Part{
		{Key: "order", Upstream: "u", BaseURL: s.URL, Path: "/orders/{id}", OnError: compose.UseFallback, Fallback: json.RawMessage(`null`)},
		{Key: "customer", Upstream: "u", BaseURL: s.URL, Path: "/customers/{order.customer.id}", OnError: compose.Omit},
		{Key: "missing", Upstream: "u", BaseURL: s.URL, Path: "/regions/{order.nothing}", OnError: compose.Omit},
	}})
	require.NoError(t, err)
	rec = serve(h, "GET /o/{id}", "/o/2", nil)
	assert.Equal(t, []string{"/orders/2"}, order)
	assert.Equal(t, `{"_partial":["order","customer","missing"],"order":null}`+"\n", rec.Body.String())
}

func TestFanOutBound(t *testing.T) {
	var inFlight, most atomic.Int32
	s := server(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(100 * time.Millisecond) // long enough for three to overlap on a loaded machine
		inFlight.Add(-1)
		jsonAnswer(`{}`)(w, r)
	})
	var parts []compose.Part
	for i := range 10 {
		parts = append(parts, compose.Part{Key: "p" + string(rune('a'+i)), Upstream: "u", BaseURL: s.URL, Path: "/"})
	}
	h, err := compose.New(map[string]http.RoundTripper{"u": transport(t)}, compose.Config{MaxConcurrency: 3, Parts: parts})
	require.NoError(t, err)
	rec := serve(h, "GET /", "/", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Len(t, decode(t, rec.Body.String()), 10)
	assert.Equal(t, int32(3), most.Load(), "at most 3 in flight, and the bound is used")
}

func TestFailCancelsTheOthers(t *testing.T) {
	bad := server(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	slow := server(t, stall)
	h, err := compose.New(map[string]http.RoundTripper{"u": transport(t)}, compose.Config{Parts: []compose.Part{
		{Key: "slow", Upstream: "u", BaseURL: slow.URL, Path: "/", OnError: compose.Omit},
		{Key: "bad", Upstream: "u", BaseURL: bad.URL, Path: "/"},
	}})
	require.NoError(t, err)
	start := time.Now()
	rec := serve(h, "GET /", "/", nil)
	assert.Less(t, time.Since(start), 2*time.Second, "the deadline (10s) is not waited for")
	assert.Equal(t, http.StatusBadGateway, rec.Code)
}

func TestMergeFallbackAndPartialField(t *testing.T) {
	s := server(t, jsonAnswer(`{"_partial":"forged","x":1}`))
	h, err := compose.New(map[string]http.RoundTripper{"u": transport(t)}, compose.Config{Parts: []compose.Part{
		{Key: "a", Upstream: "u", BaseURL: s.URL, Path: "/", Merge: true},
		{Key: "b", Upstream: "u", BaseURL: s.URL + "0", Path: "/", Merge: true, OnError: compose.UseFallback, Fallback: json.RawMessage(`{"y":2}`)},
	}})
	require.NoError(t, err)
	rec := serve(h, "GET /", "/", nil)
	assert.Equal(t, `{"_partial":["b"],"x":1,"y":2}`+"\n", rec.Body.String())

	h, err = compose.New(map[string]http.RoundTripper{"u": transport(t)}, compose.Config{Parts: []compose.Part{
		{Key: "a", Upstream: "u", BaseURL: s.URL, Path: "/", Merge: true},
	}})
	require.NoError(t, err)
	rec = serve(h, "GET /", "/", nil)
	assert.Equal(t, `{"x":1}`+"\n", rec.Body.String(), "a part cannot forge the marker")
}

func TestMissingPathValueFailsThePart(t *testing.T) {
	var called atomic.Bool
	s := server(t, func(w http.ResponseWriter, r *http.Request) { called.Store(true); jsonAnswer(`{}`)(w, r) })
	h, err := compose.New(map[string]http.RoundTripper{"u": transport(t)}, compose.Config{Parts: []compose.Part{
		{Key: "order", Upstream: "u", BaseURL: s.URL, Path: "/orders/{id}"},
	}})
	require.NoError(t, err)
	rec := serve(h, "GET /orders/{number}", "/orders/7", nil) // the route names it differently
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	assert.False(t, called.Load(), "/orders/ was not called")
}

func TestSlowFailingAndDeadPartsTogether(t *testing.T) {
	ok := server(t, jsonAnswer(`{"id":1}`))
	slow := server(t, stall)
	failing := server(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	h, err := compose.New(map[string]http.RoundTripper{"u": transport(t)}, compose.Config{Parts: []compose.Part{
		{Key: "order", Upstream: "u", BaseURL: ok.URL, Path: "/"},
		{Key: "reviews", Upstream: "u", BaseURL: slow.URL, Path: "/", Timeout: compose.Duration(30 * time.Millisecond), OnError: compose.UseFallback, Fallback: json.RawMessage(`[]`)},
		{Key: "stock", Upstream: "u", BaseURL: failing.URL, Path: "/", OnError: compose.Omit},
		{Key: "offers", Upstream: "u", BaseURL: dead.URL, Path: "/", OnError: compose.UseFallback, Fallback: json.RawMessage(`{"items":[]}`)},
	}})
	require.NoError(t, err)
	rec := serve(h, "GET /", "/", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "reviews,stock,offers", rec.Header().Get(compose.HeaderPartial))
	assert.Equal(t, `{"_partial":["reviews","stock","offers"],"offers":{"items":[]},"order":{"id":1},"reviews":[]}`+"\n", rec.Body.String())
}
