package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenSetsPragmas(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	require.NoError(t, err)
	defer db.Close()
	var mode string
	require.NoError(t, db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode)
	var timeout int
	require.NoError(t, db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout))
	assert.Equal(t, 10000, timeout)
}

func TestOpenRejectsEmptyPath(t *testing.T) {
	_, err := sqlite.Open(context.Background(), "")
	assert.ErrorContains(t, err, "path must not be empty")
}

// TestConcurrentWritersDoNotFail: read-then-write transactions from many
// goroutines would fail with SQLITE_BUSY under deferred transactions.
func TestConcurrentWritersDoNotFail(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, "CREATE TABLE n (v INTEGER)")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "INSERT INTO n VALUES (0)")
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 16*20)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				errs <- increment(ctx, db)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var v int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT v FROM n").Scan(&v))
	assert.Equal(t, 16*20, v)
}

func increment(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "SELECT v FROM n").Scan(&v); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE n SET v = ?", v+1); err != nil {
		return err
	}
	return tx.Commit()
}
