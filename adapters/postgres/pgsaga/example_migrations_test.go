package pgsaga_test

import (
	"fmt"
	"log"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgsaga"
)

// Teams that run migrations with a tool of their own (goose, atlas) take
// the store's steps from Migrations, with the configured names in their
// SQL, and write one file per step. Each step records itself in
// bulwark_migrations, so a Store.Migrate run later finds it done.
func ExampleMigrations() {
	steps, err := pgsaga.Migrations(pgsaga.Config{Table: "app.sagas"})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range steps {
		fmt.Printf("%05d_pgsaga.sql: %s\n", m.Version, m.Name)
	}
	// Output:
	// 00001_pgsaga.sql: create the table and its indexes
	// 00002_pgsaga.sql: name the indexes to fit in 63 bytes
}
