// Package pgmigrate runs the schema statements of bulwark's PostgreSQL
// stores so that any number of processes may run them at once.
package pgmigrate

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Run executes statements in one transaction that first takes the
// transaction-scoped advisory lock lock. Concurrent CREATE ... IF NOT
// EXISTS of one object can otherwise fail on PostgreSQL's catalog (a
// duplicate key in pg_type or pg_class) when services start together; with
// the lock they take turns, and each later run finds everything in place.
// Each store passes a lock of its own.
func Run(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, lock int64, statements string) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, statements)
		return err
	})
}
