package sqliteeventsource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
)

// SaveSnapshot implements eventsource.SnapshotStore.SaveSnapshot with one
// upsert.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventsource.Snapshot) error {
	s.check()
	if err := eventsource.CheckSnapshot(snap); err != nil {
		return err
	}
	data := snap.Data
	if data == nil {
		data = []byte{}
	}
	if _, err := s.db.ExecContext(ctx, s.sql.saveSnapshot, snap.StreamID, snap.StreamVersion, snap.EventID[:],
		snap.SchemaVersion, data, s.clock.Now().UnixMicro()); err != nil {
		return fmt.Errorf("sqliteeventsource: saving the snapshot of %q: %w", snap.StreamID, err)
	}
	return nil
}

// LoadSnapshot implements eventsource.SnapshotStore.LoadSnapshot.
func (s *Store) LoadSnapshot(ctx context.Context, streamID string) (eventsource.Snapshot, bool, error) {
	s.check()
	snap := eventsource.Snapshot{StreamID: streamID}
	var (
		id []byte
		at int64
	)
	err := s.db.QueryRowContext(ctx, s.sql.loadSnapshot, streamID).Scan(&snap.StreamVersion, &id, &snap.SchemaVersion, &snap.Data, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return eventsource.Snapshot{}, false, nil
	case err != nil:
		return eventsource.Snapshot{}, false, fmt.Errorf("sqliteeventsource: loading the snapshot of %q: %w", streamID, err)
	}
	if snap.EventID, err = uuid.FromBytes(id); err != nil {
		return eventsource.Snapshot{}, false, fmt.Errorf("sqliteeventsource: loading the snapshot of %q: event ID: %w", streamID, err)
	}
	snap.RecordedAt = time.UnixMicro(at).UTC()
	return snap, true, nil
}
