package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
)

// ExampleOpen opens a database file that several goroutines and processes
// may share, and shows the settings Open made.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	var journal string
	var busy int
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
		log.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
		log.Fatal(err)
	}
	fmt.Println("journal:", journal, "busy timeout:", busy, "ms")

	_, err = sqlite.Open(ctx, "")
	fmt.Println(err)
	// Output:
	// journal: wal busy timeout: 10000 ms
	// sqlite: path must not be empty (use a file name; :memory: is not shared between connections)
}
