package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
)

// TestChargeOutlivesAClientThatLeft: a client that stops waiting once its
// charge has begun (its request's context ends inside the handler) does not
// make the charge fail and its key be released: the charge is recorded once
// and answered, so the client's retry gets the stored answer instead of
// charging the card again.
func TestChargeOutlivesAClientThatLeft(t *testing.T) {
	ctx := context.Background()
	st := &sqliteStorage{dir: t.TempDir()}
	t.Cleanup(func() { _ = st.close() })
	db, err := st.open(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	s, err := startPaymentService(ctx, st, db, 1, newStory(&strings.Builder{}), &counters{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.close() })
	// The client leaves after the key is claimed, before the charge is
	// written.
	leaves := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gone, cancel := context.WithCancel(r.Context())
		cancel()
		s.charge(w, r.WithContext(gone))
	})
	h := s.keys.Handler(leaves)
	send := func() int {
		r := httptest.NewRequest(http.MethodPost, "/charges", strings.NewReader(`{"order_id":"order-1","card":"4242","cents":1000}`))
		r.Header.Set(bulwarkhttp.HeaderIdempotencyKey, "order-1/charge-payment")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if code := send(); code != http.StatusCreated {
		t.Fatalf("the charge answered %d, want 201: it gave up with the client", code)
	}
	if code := send(); code != http.StatusCreated {
		t.Fatalf("the retry answered %d, want the stored 201", code)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM charges`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d charges for one key, want 1", n)
	}
}
