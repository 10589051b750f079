package sqliteoutbox_test

import (
	"fmt"
	"log"

	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteoutbox"
)

// Teams that run migrations with a tool of their own (goose, atlas) take
// the outbox's steps from Migrations, with the configured names in their
// SQL, and write one file per step. Each step records itself in
// bulwark_migrations, so a Store.Migrate run later finds it done.
func ExampleMigrations() {
	steps, err := sqliteoutbox.Migrations(sqliteoutbox.Config{Table: "outbox", DeadLetterTable: "outbox_dead"})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range steps {
		fmt.Printf("%05d_sqliteoutbox.sql: %s\n", m.Version, m.Name)
	}
	// Output:
	// 00001_sqliteoutbox.sql: create the tables and indexes
}
