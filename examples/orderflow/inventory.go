package main

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/chaos"
)

// The SKUs the shop sells, and the stock of each at the start.
var skus = []string{"widget", "gadget", "gizmo"}

const startStock = 1000

// reservationRequest is the body of POST /reservations; its idempotency key
// names the reservation from then on.
type reservationRequest struct {
	OrderID string `json:"order_id"`
	SKU     string `json:"sku"`
	Qty     int    `json:"qty"`
}

// releaseRequest is the body of POST /reservations/release and of
// POST /shipments: the reservation, by the key it was made with.
type releaseRequest struct {
	OrderID     string `json:"order_id"`
	Reservation string `json:"reservation"`
}

// inventoryService reserves stock, releases it and ships it. Unlike the
// payment service it needs no idempotency middleware: each reservation is a
// row named by its key, so doing the work once per key is a matter of SQL
// (ON CONFLICT DO NOTHING, and state checks).
type inventoryService struct {
	db     *database
	faults *chaos.Injector
	server *server
}

// Reservation states.
const (
	reserved = "reserved"
	released = "released"
	shipped  = "shipped"
)

func startInventoryService(ctx context.Context, db *database, seed uint64, count *counters) (*inventoryService, error) {
	err := migrate(ctx, db.DB,
		`CREATE TABLE IF NOT EXISTS stock (sku TEXT PRIMARY KEY, available BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS reservations (key TEXT PRIMARY KEY, order_id TEXT NOT NULL, sku TEXT NOT NULL, qty BIGINT NOT NULL, state TEXT NOT NULL)`)
	if err != nil {
		return nil, err
	}
	for _, sku := range skus {
		if _, err := db.ExecContext(ctx, `INSERT INTO stock (sku, available) VALUES ($1, $2) ON CONFLICT DO NOTHING`, sku, startStock); err != nil {
			return nil, err
		}
	}
	s := &inventoryService{db: db}
	if s.faults, err = chaos.New(chaos.Config{Seed: seed, Disabled: true}); err != nil {
		return nil, err
	}
	// Load shedding: an adaptive bulkhead finds how many requests the
	// service can take at once from their latency, and the Shedder answers
	// the rest with 503 and Retry-After at once instead of letting them
	// queue. It matters when the sagas that waited out an outage all come
	// back together.
	limit, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 16, Adaptive: bulkhead.AIMD{LatencyThreshold: 100 * time.Millisecond}})
	if err != nil {
		return nil, err
	}
	shedder, err := bulwarkhttp.NewShedder(limit, bulwarkhttp.ShedderConfig{
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if _, ok := e.(bulwarkhttp.Shed); ok {
				count.shed.Add(1)
			}
		}),
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reservations", s.reserve)
	mux.HandleFunc("POST /reservations/release", s.release)
	mux.HandleFunc("POST /shipments", s.ship)
	// The shipping part of the composed order details, behind the gateway
	// and the chaos (an inventory that is down answers nothing) but not
	// behind the shedder, which is there for the sagas' writes.
	outer := http.NewServeMux()
	outer.Handle("GET /orders/{id}/shipment", fronted(count, http.HandlerFunc(s.shipment)))
	outer.Handle("/", shedder.Handler(mux))
	if s.server, err = serve(withChaos(s.faults, outer)); err != nil {
		return nil, err
	}
	return s, nil
}

// shipmentState is the shipping part of the order details: the state of
// the order's reservation (reserved, released, shipped), or "none" yet.
type shipmentState struct {
	OrderID string `json:"order_id"`
	State   string `json:"state"`
}

// shipment answers GET /orders/{id}/shipment.
func (s *inventoryService) shipment(w http.ResponseWriter, r *http.Request) {
	st := shipmentState{OrderID: r.PathValue("id"), State: "none"}
	err := s.db.QueryRowContext(r.Context(), `SELECT state FROM reservations WHERE order_id = $1 ORDER BY key LIMIT 1`, st.OrderID).Scan(&st.State)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		problem(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// reserve takes the stock out once per key. A key whose release came
// first (the saga gave up on it) stays released: 410.
func (s *inventoryService) reserve(w http.ResponseWriter, r *http.Request) {
	var req reservationRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	key := r.Header.Get(bulwarkhttp.HeaderIdempotencyKey)
	ctx := r.Context()
	status, err := s.inTx(ctx, func(tx *sql.Tx) (int, error) {
		res, err := tx.ExecContext(ctx, `INSERT INTO reservations (key, order_id, sku, qty, state) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			key, req.OrderID, req.SKU, req.Qty, reserved)
		if err != nil {
			return 0, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			state, err := s.state(ctx, tx, key)
			if state == released {
				return http.StatusGone, err
			}
			return http.StatusOK, err
		}
		res, err = tx.ExecContext(ctx, `UPDATE stock SET available = available - $1 WHERE sku = $2 AND available >= $1`, req.Qty, req.SKU)
		if err != nil {
			return 0, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return http.StatusUnprocessableEntity, errOutOfStock
		}
		return http.StatusCreated, nil
	})
	s.answer(w, status, err, releaseRequest{OrderID: req.OrderID, Reservation: key})
}

// release puts a reservation's stock back, once. A reservation that was
// never made is recorded as released, so that a reserve arriving late
// (it was delayed in the network) takes nothing.
func (s *inventoryService) release(w http.ResponseWriter, r *http.Request) {
	var req releaseRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	ctx := r.Context()
	status, err := s.inTx(ctx, func(tx *sql.Tx) (int, error) {
		var sku, state string
		var qty int
		err := tx.QueryRowContext(ctx, `SELECT sku, qty, state FROM reservations WHERE key = $1`, req.Reservation).Scan(&sku, &qty, &state)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO reservations (key, order_id, sku, qty, state) VALUES ($1, $2, '', 0, $3)`, req.Reservation, req.OrderID, released)
			return http.StatusOK, err
		case err != nil:
			return 0, err
		case state == shipped:
			return http.StatusConflict, errShipped
		case state == released:
			return http.StatusOK, nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE reservations SET state = $1 WHERE key = $2`, released, req.Reservation); err != nil {
			return 0, err
		}
		_, err = tx.ExecContext(ctx, `UPDATE stock SET available = available + $1 WHERE sku = $2`, qty, sku)
		return http.StatusOK, err
	})
	s.answer(w, status, err, req)
}

// ship hands a reservation's stock to the carrier, once.
func (s *inventoryService) ship(w http.ResponseWriter, r *http.Request) {
	var req releaseRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	ctx := r.Context()
	status, err := s.inTx(ctx, func(tx *sql.Tx) (int, error) {
		res, err := tx.ExecContext(ctx, `UPDATE reservations SET state = $1 WHERE key = $2 AND state = $3`, shipped, req.Reservation, reserved)
		if err != nil {
			return 0, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return http.StatusCreated, nil
		}
		state, err := s.state(ctx, tx, req.Reservation)
		if state == shipped {
			return http.StatusOK, err
		}
		return http.StatusConflict, errors.Join(errNotReserved, err)
	})
	s.answer(w, status, err, req)
}

var (
	errOutOfStock  = errors.New("out of stock")
	errShipped     = errors.New("the reservation has been shipped")
	errNotReserved = errors.New("no such reservation to ship")
)

// inTx runs fn in a transaction, committed when fn returns a 2xx status.
func (s *inventoryService) inTx(ctx context.Context, fn func(*sql.Tx) (int, error)) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	status, err := fn(tx)
	if err != nil || status >= 300 {
		return status, err
	}
	return status, tx.Commit()
}

func (s *inventoryService) state(ctx context.Context, tx *sql.Tx, key string) (string, error) {
	var state string
	err := tx.QueryRowContext(ctx, `SELECT state FROM reservations WHERE key = $1`, key).Scan(&state)
	return state, err
}

// answer writes v with status, or the error: a 4xx as it is, anything else
// (a database error) as 503, which callers may retry.
func (s *inventoryService) answer(w http.ResponseWriter, status int, err error, v any) {
	switch {
	case status >= 400 && status < 500:
		msg := http.StatusText(status)
		if err != nil {
			msg = err.Error()
		}
		problem(w, status, msg)
	case err != nil:
		problem(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeJSON(w, status, v)
	}
}

// down makes every request fail, healthy brings the service back.
func (s *inventoryService) down() error {
	if err := s.faults.SetFaults(chaos.Faults{ErrorRate: 1, Error: errDown}); err != nil {
		return err
	}
	s.faults.Enable()
	return nil
}

func (s *inventoryService) heal() { s.faults.Disable() }

func (s *inventoryService) close() { s.server.close() }

var errDown = errors.New("inventory database unreachable")
