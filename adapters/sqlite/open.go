// Package sqlite opens SQLite databases (modernc.org/sqlite, pure Go, no cgo)
// the way bulwark's SQLite stores need them. The stores live in one
// subpackage per pattern (sqliteoutbox, sqliteidempotency,
// sqliteeventsource, sqlitesaga).
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Open opens (creating if needed) the SQLite database file at path, set up
// for several goroutines and processes sharing it:
//
//   - journal_mode=WAL: readers do not block the writer, nor it them;
//   - busy_timeout=10s: a writer waits for the lock instead of failing at once;
//   - transactions start with BEGIN IMMEDIATE, taking the write lock up front,
//     so two transactions never deadlock upgrading from read to write (a
//     deadlock SQLite reports as SQLITE_BUSY without waiting);
//   - foreign_keys=on and synchronous=NORMAL (durable across application
//     crashes in WAL mode; a power loss may drop the last commits).
//
// Open pings the database, so a path that cannot be opened fails here.
func Open(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" {
		return nil, fmt.Errorf("sqlite: path must not be empty (use a file name; :memory: is not shared between connections)")
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	return db, nil
}
