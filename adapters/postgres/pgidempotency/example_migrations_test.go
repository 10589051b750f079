package pgidempotency_test

import (
	"fmt"
	"log"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgidempotency"
)

// Teams that run migrations with a tool of their own (goose, atlas) take
// the store's steps from Migrations, with the configured names in their
// SQL, and write one file per step. Each step records itself in
// bulwark_migrations, so a Store.Migrate run later finds it done.
func ExampleMigrations() {
	steps, err := pgidempotency.Migrations(pgidempotency.Config{Table: "app.idempotency_keys"})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range steps {
		fmt.Printf("%05d_pgidempotency.sql: %s\n", m.Version, m.Name)
	}
	// Output:
	// 00001_pgidempotency.sql: create the table and its expiry index
	// 00002_pgidempotency.sql: name the expiry index to fit in 63 bytes
}
