// Package sqlitemigrate runs the schema statements of bulwark's SQLite
// stores.
package sqlitemigrate

import (
	"context"
	"database/sql"
)

// Run executes statements in one transaction, so a schema is created whole
// or not at all. SQLite serialises writers, so processes sharing the file
// may run it at once; statements written with IF NOT EXISTS make every run
// after the first a no-op.
func Run(ctx context.Context, db *sql.DB, statements string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, statements); err != nil {
		return err
	}
	return tx.Commit()
}
