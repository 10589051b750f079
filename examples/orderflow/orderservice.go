package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/outbox"
)

// clientHeader is the name the order processor gives itself when it calls
// the payment service (downstream.go): the scope of its idempotency keys
// there. The order service takes its client from the subject the gateway
// verified instead (subjectHeader).
const clientHeader = "X-Client-ID"

// orderRequest is the body of POST /orders.
type orderRequest struct {
	SKU   string `json:"sku"`
	Qty   int    `json:"qty"`
	Cents int    `json:"cents"`
	Card  string `json:"card"`
}

// orderEvent is the order service's answer to POST /orders and the payload
// of the orders.created event.
type orderEvent struct {
	OrderID string `json:"order_id"`
	Client  string `json:"client"`
	orderRequest
}

// orderService accepts orders. Each order row and its orders.created
// outbox message are written in one transaction, so the event exists if
// and only if the order does; the relay publishes it after the commit.
type orderService struct {
	db      *database
	enqueue enqueueFunc
	late    *chaos.Injector
	keys    *idempotencyKeys
	count   *counters
	server  *server
}

func startOrderService(ctx context.Context, st storage, db *database, tr *tracing, seed uint64, story *story, count *counters) (*orderService, outbox.Store, error) {
	err := migrate(ctx, db.DB, countersTable, counterRow("orders"),
		// idempotency_key is deliberately not UNIQUE: the ledger counts the
		// orders per key to show that the middleware alone kept them single.
		// A real service would add the constraint as a second guard.
		`CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, client TEXT NOT NULL, idempotency_key TEXT NOT NULL,
			sku TEXT NOT NULL, qty BIGINT NOT NULL, cents BIGINT NOT NULL, card TEXT NOT NULL)`)
	if err != nil {
		return nil, nil, err
	}
	box, enqueue, err := st.outbox(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	records, err := st.idempotency(ctx, db)
	if err != nil {
		return nil, nil, err
	}

	// Some answers leave late (a pause, a slow network): the client's
	// attempt times out after the order was written, and it retries.
	late, err := chaos.New(chaos.Config{Seed: seed, Faults: chaos.Faults{LatencyRate: 0.08, Latency: 2 * clientAttemptTimeout}})
	if err != nil {
		return nil, nil, err
	}
	s := &orderService{db: db, enqueue: tr.enqueue(enqueue), late: late, count: count} // the event carries the order's trace

	// Idempotency keys (keys.go): retries of an order get the first
	// answer back, and write nothing.
	keys, err := newIdempotencyKeys(records, subjectHeader, bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if _, ok := e.(idempotency.Replayed); ok {
			count.replayed.Add(1)
		}
	}))
	if err != nil {
		return nil, nil, err
	}
	s.keys = keys

	mux := http.NewServeMux()
	// Every route is behind the gateway (edge.go), which verified the
	// client's token, holds each client to its rate limit, and forwards
	// the token's subject in subjectHeader: the client, the scope of its
	// idempotency keys and the owner of its orders.
	mux.Handle("POST /orders", fronted(count, keys.Handler(http.HandlerFunc(s.create))))
	mux.Handle("GET /orders/{id}", fronted(count, http.HandlerFunc(s.get)))
	mux.Handle("GET /clients/{client}/orders", fronted(count, history(db.DB, &count.servedOrders)))
	if s.server, err = serve(mux); err != nil {
		return nil, nil, errors.Join(err, keys.close())
	}
	return s, box, nil
}

// create writes the order and its orders.created event in one
// transaction. It knows nothing of retries: the middleware runs it once per
// idempotency key.
func (s *orderService) create(w http.ResponseWriter, r *http.Request) {
	var req orderRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.SKU == "" || req.Qty <= 0 || req.Cents <= 0 || req.Card == "" {
		problem(w, http.StatusBadRequest, "an order needs a sku, a qty > 0, cents > 0 and a card")
		return
	}
	ctx := r.Context()
	order := orderEvent{Client: r.Header.Get(subjectHeader), orderRequest: req}
	key := idempotency.AttemptFrom(ctx).Ref().Key
	// Once begun, the order is written whatever the client does (see
	// writeTimeout).
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := s.write(wctx, &order, key); err != nil {
		problem(w, http.StatusServiceUnavailable, "the order could not be written: "+err.Error())
		return
	}
	s.count.accepted.Add(1)
	// The order is written; the answer may still be late, and the client
	// stop waiting for it. Its retry will find the key's record.
	_ = s.late.Do(context.WithoutCancel(ctx), func(context.Context) error { return nil })
	writeJSON(w, http.StatusCreated, order)
}

// writeTimeout bounds a service's write of an order or a charge. The write
// runs on a context the caller cannot cancel: a commit cut short by a client
// that stopped waiting may have committed all the same while reporting an
// error, and answering that error would release the idempotency key, so
// that the client's retry writes a second order or charges a card twice.
const writeTimeout = 10 * time.Second

func (s *orderService) write(ctx context.Context, order *orderEvent, key string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	n, err := nextNumber(ctx, tx, "orders")
	if err != nil {
		return err
	}
	order.OrderID = fmt.Sprintf("order-%04d", n)
	_, err = tx.ExecContext(ctx, `INSERT INTO orders (id, client, idempotency_key, sku, qty, cents, card) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		order.OrderID, order.Client, key, order.SKU, order.Qty, order.Cents, order.Card)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(order)
	if err != nil {
		return err
	}
	// The event's ordering key is the order: its events are published in
	// the order they were written.
	if err := s.enqueue(ctx, tx, outbox.NewMessage("orders.created", order.OrderID, payload)); err != nil {
		return err
	}
	return tx.Commit()
}

// get answers GET /orders/{id}, the order part of the composed order
// details: the order, to the client who placed it only (404 to any other).
func (s *orderService) get(w http.ResponseWriter, r *http.Request) {
	var o struct {
		historyOrder
		Client string `json:"client"`
	}
	err := s.db.QueryRowContext(r.Context(), `SELECT id, client, sku, qty, cents FROM orders WHERE id = $1`, r.PathValue("id")).
		Scan(&o.OrderID, &o.Client, &o.SKU, &o.Qty, &o.Cents)
	switch {
	case errors.Is(err, sql.ErrNoRows) || err == nil && o.Client != r.Header.Get(subjectHeader):
		problem(w, http.StatusNotFound, "no such order")
	case err != nil:
		problem(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeJSON(w, http.StatusOK, o)
	}
}

func (s *orderService) close() error {
	if s.server != nil {
		s.server.close()
	}
	if s.keys != nil {
		return s.keys.close()
	}
	return nil
}
