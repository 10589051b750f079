package main

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/chaos"
)

// notificationRequest is the body of POST /notifications.
type notificationRequest struct {
	OrderID string `json:"order_id"`
	Message string `json:"message"`
}

// notificationService tells customers about their orders. It is sometimes
// slow; the processor hedges its requests (a second one after a short
// delay, first answer wins), which is safe because a notification is sent
// once per idempotency key however many requests carry it.
type notificationService struct {
	db       *database
	faults   *chaos.Injector
	requests atomic.Int64
	server   *server
}

func startNotificationService(ctx context.Context, db *database, seed uint64) (*notificationService, error) {
	err := migrate(ctx, db.DB, `CREATE TABLE IF NOT EXISTS notifications (key TEXT PRIMARY KEY, order_id TEXT NOT NULL, message TEXT NOT NULL)`)
	if err != nil {
		return nil, err
	}
	s := &notificationService{db: db}
	if s.faults, err = chaos.New(chaos.Config{Seed: seed, Disabled: true}); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /notifications", s.send)
	if s.server, err = serve(withChaos(s.faults, mux)); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *notificationService) send(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	var req notificationRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	_, err := s.db.ExecContext(r.Context(), `INSERT INTO notifications (key, order_id, message) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		r.Header.Get(bulwarkhttp.HeaderIdempotencyKey), req.OrderID, req.Message)
	if err != nil {
		problem(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, req)
}

// slow delays a share of requests (until the caller hangs up).
func (s *notificationService) slow(rate float64, latency time.Duration) error {
	if err := s.faults.SetFaults(chaos.Faults{LatencyRate: rate, Latency: latency}); err != nil {
		return err
	}
	s.faults.Enable()
	return nil
}

func (s *notificationService) heal() { s.faults.Disable() }

func (s *notificationService) close() { s.server.close() }
