package pgeventsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/jackc/pgx/v5"
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
	_, err := s.pool.Exec(ctx, s.sql.saveSnapshot, snap.StreamID, snap.StreamVersion, [16]byte(snap.EventID),
		int32(snap.SchemaVersion), data, s.clock.Now().UTC())
	if err != nil {
		return fmt.Errorf("pgeventsource: saving the snapshot of %q: %w", snap.StreamID, err)
	}
	return nil
}

// LoadSnapshot implements eventsource.SnapshotStore.LoadSnapshot.
func (s *Store) LoadSnapshot(ctx context.Context, streamID string) (eventsource.Snapshot, bool, error) {
	s.check()
	snap := eventsource.Snapshot{StreamID: streamID}
	err := s.pool.QueryRow(ctx, s.sql.loadSnapshot, streamID).Scan(&snap.StreamVersion, &snap.EventID, &snap.SchemaVersion, &snap.Data, &snap.RecordedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return eventsource.Snapshot{}, false, nil
	case err != nil:
		return eventsource.Snapshot{}, false, fmt.Errorf("pgeventsource: loading the snapshot of %q: %w", streamID, err)
	}
	snap.RecordedAt = snap.RecordedAt.UTC()
	return snap, true, nil
}
