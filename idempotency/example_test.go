package idempotency_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/bulwark-go/bulwark/idempotency"
)

func ExampleDo() {
	cfg := idempotency.DefaultConfig()
	cfg.Store = idempotency.NewMemoryStore()
	keeper, _ := idempotency.New(cfg)

	charges := 0
	charge := func(ctx context.Context) (string, error) {
		charges++
		return fmt.Sprintf("ch_%d", charges), nil
	}
	req := idempotency.Request{Scope: "customer-42", Key: "order-1001", Fingerprint: []byte("amount=500")}
	for range 3 { // the client retries
		id, err := idempotency.Do(context.Background(), keeper, req, charge)
		fmt.Println(id, err)
	}
	fmt.Println("charges:", charges)
	// Output:
	// ch_1 <nil>
	// ch_1 <nil>
	// ch_1 <nil>
	// charges: 1
}

func ExampleMiddleware() {
	cfg := idempotency.DefaultConfig()
	cfg.Store = idempotency.NewMemoryStore()
	keeper, _ := idempotency.New(cfg)
	mcfg := idempotency.DefaultMiddlewareConfig()
	mcfg.Keeper = keeper
	mcfg.Required = true
	mcfg.Scope = func(r *http.Request) string { return r.Header.Get("X-Account") } // the authenticated principal
	mw, _ := idempotency.NewMiddleware(mcfg)

	n := 0
	handler := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "payment %d", n)
	}))
	send := func(key, body string) {
		r := httptest.NewRequest(http.MethodPost, "/payments", strings.NewReader(body))
		r.Header.Set("X-Account", "acct-7")
		if key != "" {
			r.Header.Set(idempotency.KeyHeader, key)
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		b, _ := io.ReadAll(w.Body)
		fmt.Println(w.Code, w.Header().Get(idempotency.ReplayedHeader), string(b))
	}
	send("k-1", `{"amount":500}`)
	send("k-1", `{"amount":500}`) // a retry: replayed
	send("k-1", `{"amount":900}`) // same key, other payload
	send("", `{"amount":500}`)    // no key
	// Output:
	// 201  payment 1
	// 201 true payment 1
	// 422  {"title":"Idempotency-Key is already used","status":422,"detail":"This Idempotency-Key was used with a different request."}
	// 400  {"title":"Idempotency-Key is missing","status":400,"detail":"This operation requires an Idempotency-Key header."}
}

func ExampleInbox() {
	cfg := idempotency.DefaultConfig()
	cfg.Store = idempotency.NewMemoryStore()
	keeper, _ := idempotency.New(cfg)
	inbox, _ := idempotency.NewInbox(idempotency.InboxConfig{Keeper: keeper, Consumer: "billing"})

	for _, id := range []string{"msg-1", "msg-2", "msg-1"} { // msg-1 is redelivered
		ran, err := inbox.Process(context.Background(), id, func(ctx context.Context) error {
			fmt.Println("handling", id)
			return nil
		})
		fmt.Println(id, ran, err)
	}
	// Output:
	// handling msg-1
	// msg-1 true <nil>
	// handling msg-2
	// msg-2 true <nil>
	// msg-1 false <nil>
}
