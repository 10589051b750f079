package pgeventsource_test

import (
	"fmt"
	"log"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgeventsource"
)

// Teams that run migrations with a tool of their own (goose, atlas) take
// the store's steps from Migrations, with the configured names in their
// SQL, and write one file per step. Each step records itself in
// bulwark_migrations, so a Store.Migrate run later finds it done.
func ExampleMigrations() {
	steps, err := pgeventsource.Migrations(pgeventsource.Config{EventsTable: "app.events", SnapshotsTable: "app.snapshots", Channel: "app_events"})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range steps {
		fmt.Printf("%05d_pgeventsource.sql: %s\n", m.Version, m.Name)
	}
	// Output:
	// 00001_pgeventsource.sql: create the tables and sequence, create or replace the functions
}
