package pgoutbox_test

import (
	"fmt"
	"log"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgoutbox"
)

// Teams that run migrations with a tool of their own (goose, atlas) take
// the outbox's steps from Migrations, with the configured names in their
// SQL, and write one file per step. Each step records itself in
// bulwark_migrations, so a Store.Migrate run later finds it done.
func ExampleMigrations() {
	steps, err := pgoutbox.Migrations(pgoutbox.Config{Table: "app.outbox", DeadLetterTable: "app.outbox_dead"})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range steps {
		file := fmt.Sprintf("%05d_pgoutbox.sql", m.Version)
		// A goose file would hold: "-- +goose Up\n-- +goose StatementBegin\n" + m.SQL + "-- +goose StatementEnd\n"
		fmt.Printf("%s: %s\n", file, m.Name)
	}
	// Output:
	// 00001_pgoutbox.sql: create the tables, indexes and notify trigger
	// 00002_pgoutbox.sql: name the indexes, notify function and trigger to fit in 63 bytes
}
