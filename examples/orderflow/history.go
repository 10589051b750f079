package main

import (
	"database/sql"
	"net/http"
	"sync/atomic"
)

// historyAnswer is a client's order history: what both the monolith's
// endpoint and the orders service's answer, field for field, so that
// clients do not see which one served them.
type historyAnswer struct {
	Client string         `json:"client"`
	Orders []historyOrder `json:"orders"`
}

type historyOrder struct {
	OrderID string `json:"order_id"`
	SKU     string `json:"sku"`
	Qty     int    `json:"qty"`
	Cents   int    `json:"cents"`
}

// The two sides of the history's strangler fig, in servedByHeader.
const (
	sideMonolith = "monolith"
	sideOrders   = "orders"
)

// monolith is the legacy order history: the old shop application's
// endpoint, still reading the orders table, which the gateway's strangler
// route moves to the orders service a share of requests at a time. It is
// registered in the flow's registry as "monolith".
type monolith struct {
	server *server
}

func startMonolith(db *database, count *counters) (*monolith, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /clients/{client}/orders", fronted(count, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client, ok := ownHistory(w, r, sideMonolith)
		if !ok {
			return
		}
		// The legacy query: every column, filtered in the application.
		rows, err := db.QueryContext(r.Context(), `SELECT id, client, sku, qty, cents FROM orders ORDER BY id`)
		if err != nil {
			problem(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		defer rows.Close()
		answer := historyAnswer{Client: client, Orders: []historyOrder{}}
		for rows.Next() {
			var o historyOrder
			var owner string
			if err := rows.Scan(&o.OrderID, &owner, &o.SKU, &o.Qty, &o.Cents); err != nil {
				problem(w, http.StatusServiceUnavailable, err.Error())
				return
			}
			if owner == client {
				answer.Orders = append(answer.Orders, o)
			}
		}
		if err := rows.Err(); err != nil {
			problem(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		count.servedMonolith.Add(1)
		writeJSON(w, http.StatusOK, answer)
	})))
	s, err := serve(mux)
	if err != nil {
		return nil, err
	}
	return &monolith{server: s}, nil
}

func (m *monolith) close() { m.server.close() }

// ownHistory marks the answer with side and returns the client whose
// history r asks for, refusing (403) a client asking for another's.
func ownHistory(w http.ResponseWriter, r *http.Request, side string) (string, bool) {
	w.Header().Set(servedByHeader, side)
	client := r.PathValue("client")
	if client != r.Header.Get(subjectHeader) {
		problem(w, http.StatusForbidden, "a client reads its own order history only")
		return "", false
	}
	return client, true
}

// history is the orders service's history endpoint, the strangler's new
// side: GET /clients/{client}/orders.
func history(db *sql.DB, served *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		client, ok := ownHistory(w, r, sideOrders)
		if !ok {
			return
		}
		rows, err := db.QueryContext(r.Context(), `SELECT id, sku, qty, cents FROM orders WHERE client = $1 ORDER BY id`, client)
		if err != nil {
			problem(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		defer rows.Close()
		answer := historyAnswer{Client: client, Orders: []historyOrder{}}
		for rows.Next() {
			var o historyOrder
			if err := rows.Scan(&o.OrderID, &o.SKU, &o.Qty, &o.Cents); err != nil {
				problem(w, http.StatusServiceUnavailable, err.Error())
				return
			}
			answer.Orders = append(answer.Orders, o)
		}
		if err := rows.Err(); err != nil {
			problem(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		served.Add(1)
		writeJSON(w, http.StatusOK, answer)
	}
}
