package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The three services the saga calls: inventory, payments and shipping.
// They keep their state in tables of the example's database and, as real
// services must for a saga, do the work of one idempotency key once: a
// repeated call returns the first call's result.
type services struct {
	db *sql.DB
}

// errDeclined is the payment service's answer to the test card that is
// always declined.
var errDeclined = errors.New("card declined")

const declinedCard = "4000-0000-0000-0002"

func (s services) migrate(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stock (sku TEXT PRIMARY KEY, available INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS reservations (key TEXT PRIMARY KEY, sku TEXT NOT NULL, qty INTEGER NOT NULL, released INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS charges (key TEXT PRIMARY KEY, order_id TEXT NOT NULL, cents INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS shipments (key TEXT PRIMARY KEY, order_id TEXT NOT NULL);
INSERT OR IGNORE INTO stock VALUES ('widget', 10), ('gadget', 10);`)
	return err
}

// createOrder records the order as pending; cancelOrder marks it
// cancelled (and is harmless if it was never created).
func (s services) createOrder(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO orders VALUES (?, 'pending')`, id)
	return err
}

func (s services) cancelOrder(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO orders VALUES (?, 'cancelled') ON CONFLICT (id) DO UPDATE SET status = 'cancelled'`, id)
	return err
}

// ship books a shipment under key, once, and marks the order shipped.
func (s services) ship(ctx context.Context, key, orderID string) (string, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO shipments VALUES (?, ?)`, key, orderID); err != nil {
		return "", err
	}
	_, err := s.db.ExecContext(ctx, `UPDATE orders SET status = 'shipped' WHERE id = ?`, orderID)
	return "T:" + key, err
}

// reserve takes qty of sku out of stock under key, once.
func (s services) reserve(ctx context.Context, key, sku string, qty int) (string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO reservations (key, sku, qty) VALUES (?, ?, ?)`, key, sku, qty)
	if err != nil {
		return "", err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		res, err := tx.ExecContext(ctx, `UPDATE stock SET available = available - ? WHERE sku = ? AND available >= ?`, qty, sku, qty)
		if err != nil {
			return "", err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return "", fmt.Errorf("only %s left", s.available(ctx, sku))
		}
	}
	return "R:" + key, tx.Commit()
}

// release puts a reservation back, once; a reservation that never
// happened is recorded as released, so a late reserve does nothing.
func (s services) release(ctx context.Context, key string) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var sku string
	var qty, released int
	err = tx.QueryRowContext(ctx, `SELECT sku, qty, released FROM reservations WHERE key = ?`, key).Scan(&sku, &qty, &released)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO reservations (key, sku, qty, released) VALUES (?, '', 0, 1)`, key)
		if err != nil {
			return false, err
		}
		return false, tx.Commit()
	case err != nil:
		return false, err
	case released == 1:
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE reservations SET released = 1 WHERE key = ?`, key); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE stock SET available = available + ? WHERE sku = ?`, qty, sku); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// charge takes cents from card under key, once. It reports whether this
// call charged (false: the key had been charged before).
func (s services) charge(ctx context.Context, key, orderID, card string, cents int) (string, bool, error) {
	if card == declinedCard {
		return "", false, errDeclined
	}
	res, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO charges VALUES (?, ?, ?)`, key, orderID, cents)
	if err != nil {
		return "", false, err
	}
	n, _ := res.RowsAffected()
	return "C:" + key, n == 1, nil
}

func (s services) available(ctx context.Context, sku string) string {
	var n int
	_ = s.db.QueryRowContext(ctx, `SELECT available FROM stock WHERE sku = ?`, sku).Scan(&n)
	return fmt.Sprint(n)
}

// ledger reports, per order, how many charges and shipments it got and its
// status.
func (s services) ledger(ctx context.Context, orderID string) (charges, shipments int, status string, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT
	(SELECT count(*) FROM charges WHERE order_id = ?),
	(SELECT count(*) FROM shipments WHERE order_id = ?),
	coalesce((SELECT status FROM orders WHERE id = ?), 'none')`, orderID, orderID, orderID).Scan(&charges, &shipments, &status)
	return charges, shipments, status, err
}
