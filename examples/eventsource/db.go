package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgeventsource"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgoutbox"
	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteeventsource"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteoutbox"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// eventStore is what the example needs of an event store driver.
type eventStore interface {
	eventsource.Store
	eventsource.Listener
	eventsource.SnapshotStore
}

// database is the event store and the outbox in one database.
type database struct {
	events eventStore
	// appendWithMessage appends one event and enqueues one outbox message
	// in a single transaction: both are stored, or neither.
	appendWithMessage func(ctx context.Context, stream string, expected eventsource.ExpectedVersion, e eventsource.EventData, m outbox.Message) error
	outbox            outbox.Store
	close             func()
}

func openDatabase(ctx context.Context, o Options) (*database, error) {
	switch o.DB {
	case "sqlite":
		return openSQLite(ctx, filepath.Join(o.Dir, "bank.db"))
	case "postgres":
		return openPostgres(ctx, o.DSN)
	}
	return nil, fmt.Errorf("-db must be sqlite or postgres, got %q", o.DB)
}

func openSQLite(ctx context.Context, path string) (*database, error) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	events, err := sqliteeventsource.New(db, sqliteeventsource.Config{})
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	box, err := sqliteoutbox.New(db, sqliteoutbox.Config{})
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	if err := errors.Join(events.Migrate(ctx), box.Migrate(ctx)); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return &database{
		events: events,
		outbox: box,
		appendWithMessage: func(ctx context.Context, stream string, expected eventsource.ExpectedVersion, e eventsource.EventData, m outbox.Message) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if _, err := events.AppendTx(ctx, tx, stream, expected, e); err != nil {
				return err
			}
			if err := box.Enqueue(ctx, tx, m); err != nil {
				return err
			}
			return tx.Commit()
		},
		close: func() { db.Close() },
	}, nil
}

// openPostgres works in a schema of its own, dropped when the example ends.
func openPostgres(ctx context.Context, dsn string) (*database, error) {
	if dsn == "" {
		return nil, errors.New("-db postgres needs -dsn (or BULWARK_POSTGRES_DSN)")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "eventsource_example_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return nil, err
	}
	dropSchema := func() {
		if c, err := pgx.Connect(context.Background(), dsn); err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			_ = c.Close(context.Background())
		}
	}
	u, err := url.Parse(dsn)
	if err != nil {
		dropSchema()
		return nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		dropSchema()
		return nil, err
	}
	closeAll := func() { pool.Close(); dropSchema() }
	events, err := pgeventsource.New(pool, pgeventsource.Config{Channel: schema + "_events"})
	if err != nil {
		closeAll()
		return nil, err
	}
	box, err := pgoutbox.New(pool, pgoutbox.Config{Channel: schema + "_outbox"})
	if err != nil {
		closeAll()
		return nil, err
	}
	if err := errors.Join(events.Migrate(ctx), box.Migrate(ctx)); err != nil {
		closeAll()
		return nil, err
	}
	return &database{
		events: events,
		outbox: box,
		appendWithMessage: func(ctx context.Context, stream string, expected eventsource.ExpectedVersion, e eventsource.EventData, m outbox.Message) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := events.AppendTx(ctx, tx, stream, expected, e); err != nil {
					return err
				}
				return box.Enqueue(ctx, tx, m)
			})
		},
		close: closeAll,
	}, nil
}
