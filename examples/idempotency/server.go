package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteidempotency"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/idempotency"
)

// paymentRequest is the body of POST /payments.
type paymentRequest struct {
	Account string `json:"account"`
	Amount  int    `json:"amount"`
}

// paymentResponse is what the service answers on success.
type paymentResponse struct {
	PaymentID string `json:"payment_id"`
	Account   string `json:"account"`
	Charged   int    `json:"charged"`
}

// server is the payment service: a ledger of charges behind the
// idempotency middleware.
type server struct {
	*httptest.Server
	db      *sql.DB // nil with the memory store
	mu      sync.Mutex
	charges map[string][]int // account -> amounts charged
	nextID  int
	// slow makes the bank take this long for the next charge, so that the
	// client times out.
	slow time.Duration
}

func startServer(ctx context.Context, dir, storeKind string) (*server, error) {
	s := &server{charges: map[string][]int{}}
	var store idempotency.Store
	switch storeKind {
	case "memory":
		store = idempotency.NewMemoryStore()
	case "sqlite":
		db, err := sqlite.Open(ctx, filepath.Join(dir, "payments.db"))
		if err != nil {
			return nil, err
		}
		st, err := sqliteidempotency.New(db, sqliteidempotency.Config{})
		if err != nil {
			return nil, err
		}
		if err := st.Migrate(ctx); err != nil {
			return nil, err
		}
		s.db, store = db, st
	default:
		return nil, fmt.Errorf("unknown store %q: use sqlite or memory", storeKind)
	}

	keeper, err := idempotency.New(store, idempotency.Config{
		Lease: 10 * time.Second, // longer than a charge ever takes
	})
	if err != nil {
		return nil, err
	}
	mw, err := bulwarkhttp.NewIdempotency(keeper, bulwarkhttp.IdempotencyConfig{
		Required: true,
		// The scope is the authenticated client: a guessed key never returns
		// another client's payment.
		Scope: func(r *http.Request) string { return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") },
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /payments", mw.Handler(http.HandlerFunc(s.pay)))
	s.Server = httptest.NewServer(mux)
	return s, nil
}

// Close stops the server and closes the database.
func (s *server) Close() {
	s.Server.Close()
	if s.db != nil {
		s.db.Close()
	}
}

// pay charges the account. It knows nothing about idempotency: the
// middleware runs it once per key.
func (s *server) pay(w http.ResponseWriter, r *http.Request) {
	var req paymentRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Account == "" || req.Amount <= 0 {
		http.Error(w, `{"error":"want {\"account\": \"...\", \"amount\": > 0}"}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	delay := s.slow
	s.slow = 0
	s.mu.Unlock()
	time.Sleep(delay) // the bank is slow today; the client will not wait

	s.mu.Lock()
	s.charges[req.Account] = append(s.charges[req.Account], req.Amount)
	s.nextID++
	id := fmt.Sprintf("pay_%03d", s.nextID)
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/payments/"+id)
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(paymentResponse{PaymentID: id, Account: req.Account, Charged: req.Amount})
}

// charged returns the amounts charged to account.
func (s *server) charged(account string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.charges[account]...)
}

// slowNextCharge makes the next charge take d.
func (s *server) slowNextCharge(d time.Duration) {
	s.mu.Lock()
	s.slow = d
	s.mu.Unlock()
}
