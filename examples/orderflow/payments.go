package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/idempotency"
)

// declinedCard is the test card the payment service always declines.
const declinedCard = "4000-0000-0000-0002"

// chargeRequest is the body of POST /charges.
type chargeRequest struct {
	OrderID string `json:"order_id"`
	Card    string `json:"card"`
	Cents   int    `json:"cents"`
}

// chargeResponse is the payment service's answer to a charge.
type chargeResponse struct {
	ChargeID string `json:"charge_id"`
}

// paymentService charges cards. It sits behind the same idempotency
// middleware as the order service: the saga sends each charge with the
// step's stable idempotency key, so a charge retried after a timeout, or
// re-run by an orchestrator after a crash, is answered from the first
// one's record and never charges the card again.
type paymentService struct {
	db     *database
	faults *chaos.Injector // in front of the service: 503s
	late   *chaos.Injector // inside it: answers that leave after the charge, late
	keys   *idempotencyKeys
	server *server
}

func startPaymentService(ctx context.Context, st storage, db *database, seed uint64, story *story, count *counters) (*paymentService, error) {
	err := migrate(ctx, db.DB, countersTable, counterRow("charges"),
		// Not UNIQUE on the key, for the same reason as the orders table:
		// the ledger counts charges per key.
		`CREATE TABLE IF NOT EXISTS charges (id TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL, order_id TEXT NOT NULL, cents BIGINT NOT NULL)`)
	if err != nil {
		return nil, err
	}
	records, err := st.idempotency(ctx, db)
	if err != nil {
		return nil, err
	}
	s := &paymentService{db: db}
	if s.faults, err = chaos.New(chaos.Config{Seed: seed, Disabled: true}); err != nil {
		return nil, err
	}
	if s.late, err = chaos.New(chaos.Config{Seed: seed + 1, Disabled: true}); err != nil {
		return nil, err
	}

	// Idempotency keys (keys.go). A decline (402) is stored and replayed:
	// the card stays declined on every retry.
	s.keys, err = newIdempotencyKeys(records, clientHeader, bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if r, ok := e.(idempotency.Replayed); ok {
			story.say("payments: a charge with key %s came again and got the first answer back: the card is not charged twice", r.Ref.Key)
		}
	}))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /charges", s.keys.Handler(http.HandlerFunc(s.charge)))
	// The payment part of the composed order details, behind the gateway.
	mux.Handle("GET /orders/{id}/charge", fronted(count, http.HandlerFunc(s.chargeOf)))
	if s.server, err = serve(withChaos(s.faults, mux)); err != nil {
		return nil, errors.Join(err, s.keys.close())
	}
	return s, nil
}

func (s *paymentService) charge(w http.ResponseWriter, r *http.Request) {
	var req chargeRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Card == declinedCard {
		problem(w, http.StatusPaymentRequired, "card declined")
		return
	}
	ctx := r.Context()
	// Once begun, the charge is recorded whatever the caller does (see
	// writeTimeout).
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	id, err := s.record(wctx, idempotency.AttemptFrom(ctx).Ref().Key, req)
	if err != nil {
		problem(w, http.StatusServiceUnavailable, "the charge could not be recorded: "+err.Error())
		return
	}
	// The bank took the money; its confirmation may come late, after the
	// caller stopped waiting.
	_ = s.late.Do(context.WithoutCancel(ctx), func(context.Context) error { return nil })
	writeJSON(w, http.StatusCreated, chargeResponse{ChargeID: id})
}

// chargeState is the payment part of the order details: "charged" (with
// the charge) or "none" yet.
type chargeState struct {
	OrderID  string `json:"order_id"`
	State    string `json:"state"`
	ChargeID string `json:"charge_id,omitempty"`
}

// chargeOf answers GET /orders/{id}/charge.
func (s *paymentService) chargeOf(w http.ResponseWriter, r *http.Request) {
	c := chargeState{OrderID: r.PathValue("id"), State: "none"}
	err := s.db.QueryRowContext(r.Context(), `SELECT id FROM charges WHERE order_id = $1 ORDER BY id LIMIT 1`, c.OrderID).Scan(&c.ChargeID)
	switch {
	case err == nil:
		c.State = "charged"
	case !errors.Is(err, sql.ErrNoRows):
		problem(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *paymentService) record(ctx context.Context, key string, req chargeRequest) (string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	n, err := nextNumber(ctx, tx, "charges")
	if err != nil {
		return "", err
	}
	id := fmt.Sprintf("ch-%04d", n)
	if _, err := tx.ExecContext(ctx, `INSERT INTO charges (id, idempotency_key, order_id, cents) VALUES ($1, $2, $3, $4)`, id, key, req.OrderID, req.Cents); err != nil {
		return "", err
	}
	return id, tx.Commit()
}

// flaky makes a share of charges fail with 503 and a share answer late.
func (s *paymentService) flaky(errorRate, lateRate float64, late time.Duration) error {
	if err := s.faults.SetFaults(chaos.Faults{ErrorRate: errorRate}); err != nil {
		return err
	}
	if err := s.late.SetFaults(chaos.Faults{LatencyRate: lateRate, Latency: late}); err != nil {
		return err
	}
	s.faults.Enable()
	s.late.Enable()
	return nil
}

func (s *paymentService) heal() {
	s.faults.Disable()
	s.late.Disable()
}

func (s *paymentService) close() error {
	if s.server != nil {
		s.server.close()
	}
	if s.keys != nil {
		return s.keys.close()
	}
	return nil
}
