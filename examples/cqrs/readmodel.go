package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
)

// The read models: tables in the same SQLite file as the events and the
// checkpoints, so that each batch of events and its checkpoint commit
// together — every event counts once, even across crashes.
const readModelSQL = `
CREATE TABLE IF NOT EXISTS balances (
	account TEXT PRIMARY KEY,
	owner   TEXT NOT NULL,
	balance INTEGER NOT NULL
);
-- Movements of 1,000 or more, for the compliance team. An audit rule caps
-- what one row may record: a movement above it cannot be projected.
CREATE TABLE IF NOT EXISTS large_transactions (
	position INTEGER PRIMARY KEY,
	account  TEXT NOT NULL,
	kind     TEXT NOT NULL,
	amount   INTEGER NOT NULL CHECK (amount <= 1000000)
);`

const largeAmount = 1000

// projections returns the two projections that build the read models.
func projections(reg *eventsource.Registry) []cqrs.Projection[*sql.Tx] {
	return []cqrs.Projection[*sql.Tx]{
		{
			Name:  "balances",
			Types: []string{"account.opened", "account.deposited", "account.withdrawn"},
			Handle: cqrs.Decoded(reg, func(ctx context.Context, tx *sql.Tx, e eventsource.Event, v any) error {
				account := strings.TrimPrefix(e.StreamID, "account-")
				var err error
				switch v := v.(type) {
				case Opened:
					_, err = tx.ExecContext(ctx, `INSERT INTO balances (account, owner, balance) VALUES (?, ?, 0)`, account, v.Owner)
				case Deposited:
					_, err = tx.ExecContext(ctx, `UPDATE balances SET balance = balance + ? WHERE account = ?`, v.Amount, account)
				case Withdrawn:
					_, err = tx.ExecContext(ctx, `UPDATE balances SET balance = balance - ? WHERE account = ?`, v.Amount, account)
				}
				return err
			}),
			Reset: func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `DELETE FROM balances`)
				return err
			},
		},
		{
			Name:  "large_transactions",
			Types: []string{"account.deposited", "account.withdrawn"},
			Handle: cqrs.Decoded(reg, func(ctx context.Context, tx *sql.Tx, e eventsource.Event, v any) error {
				kind, amount := "deposit", 0
				switch v := v.(type) {
				case Deposited:
					amount = v.Amount
				case Withdrawn:
					kind, amount = "withdrawal", v.Amount
				}
				if amount < largeAmount {
					return nil
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO large_transactions (position, account, kind, amount) VALUES (?, ?, ?, ?)`,
					e.GlobalPosition, strings.TrimPrefix(e.StreamID, "account-"), kind, amount)
				return err
			}),
			Reset: func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `DELETE FROM large_transactions`)
				return err
			},
		},
	}
}

// The queries read the read models only.

func balance(ctx context.Context, db *sql.DB, account string) (owner string, amount int, err error) {
	err = db.QueryRowContext(ctx, `SELECT owner, balance FROM balances WHERE account = ?`, account).Scan(&owner, &amount)
	return owner, amount, err
}

func largeTransactions(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT account, kind, amount FROM large_transactions ORDER BY position`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var account, kind string
		var amount int
		if err := rows.Scan(&account, &kind, &amount); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%s %s of %d", account, kind, amount))
	}
	return out, rows.Err()
}
