package cqrs_test

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitecqrs"
	"github.com/bulwark-go/bulwark/cqrs"
)

// sqlStore is a cqrs.Store of this package over SQLite's. Its projections
// write their read model through the *sql.Tx it hands them: in the
// checkpoint's own transaction, unless readModel is set, when the read
// model lives in another database and commits apart from the checkpoint
// (the flaws "writes-then-checkpoint" and "checkpoint-then-writes").
//
// A flawed store pauses between its two commits in the first Update that
// applies events after this process took a projection's lease: the crash
// test kills a holder soon after it takes over, and the pause makes that
// the moment between the commits.
type sqlStore struct {
	inner     *sqlitecqrs.Store
	readModel *sql.DB
	flaw      string
	mu        sync.Mutex
	tookLease bool // since the last pause
}

var _ cqrs.Store[*sql.Tx] = (*sqlStore)(nil)

// commitGap is the pause between the two commits of a flawed store, longer
// than the crash test's kill delay for it (flawedKillDelay).
const commitGap = 400 * time.Millisecond

func (s *sqlStore) Update(ctx context.Context, name string, version int, fn func(ctx context.Context, tx *sql.Tx, cp *cqrs.Checkpoint) error) error {
	if s.readModel == nil {
		return s.inner.Update(ctx, name, version, fn)
	}
	var (
		rtx     *sql.Tx
		applied bool // fn moved the checkpoint: the projection applied a batch
	)
	pause := func() {
		s.mu.Lock()
		first := applied && s.tookLease
		if first {
			s.tookLease = false
		}
		s.mu.Unlock()
		if first {
			time.Sleep(commitGap)
		}
	}
	err := s.inner.Update(ctx, name, version, func(ctx context.Context, _ *sql.Tx, cp *cqrs.Checkpoint) error {
		var err error
		if rtx, err = s.readModel.BeginTx(ctx, nil); err != nil {
			return err
		}
		from, owner := cp.Position, cp.Owner
		if err := fn(ctx, rtx, cp); err != nil {
			_ = rtx.Rollback()
			return err
		}
		applied = cp.Position != from
		if cp.Owner != owner && cp.Owner != "" {
			s.mu.Lock()
			s.tookLease = true
			s.mu.Unlock()
		}
		if s.flaw == "writes-then-checkpoint" {
			if err := rtx.Commit(); err != nil {
				return err
			}
			pause()
		}
		return nil
	})
	if s.flaw == "checkpoint-then-writes" && rtx != nil {
		if err != nil {
			_ = rtx.Rollback()
			return err
		}
		pause()
		return rtx.Commit()
	}
	return err
}

func (s *sqlStore) List(ctx context.Context) ([]cqrs.Checkpoint, error) { return s.inner.List(ctx) }
