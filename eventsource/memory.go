package eventsource

import (
	"context"
	"iter"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
)

// MemoryStore is a Store, Listener and SnapshotStore that keeps everything in
// memory: for tests, examples and single-process programs that can lose
// their events when the process exits. Appends are serialized, so positions
// are given in commit order; reads never wait for an append. It copies event
// data in and out, so callers may reuse their slices. It is safe for
// concurrent use.
type MemoryStore struct {
	wmu       sync.Mutex         // serializes appends: decide, then publish
	mu        sync.RWMutex       // guards the fields below; held briefly
	log       []Event            // by global position - 1; never modified once appended
	streams   map[string][]int64 // stream ID → indexes into log, by version - 1
	ids       map[uuid.UUID]int64
	snapshots map[string]Snapshot
	listeners map[*func()]struct{}
}

var (
	_ Store         = (*MemoryStore)(nil)
	_ Listener      = (*MemoryStore)(nil)
	_ SnapshotStore = (*MemoryStore)(nil)
	_ HeadReader    = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		streams:   map[string][]int64{},
		ids:       map[uuid.UUID]int64{},
		snapshots: map[string]Snapshot{},
		listeners: map[*func()]struct{}{},
	}
}

// check panics on the zero MemoryStore.
func (s *MemoryStore) check() {
	if s.streams == nil {
		panic("eventsource: MemoryStore used without NewMemoryStore")
	}
}

// Append implements Store.Append.
func (s *MemoryStore) Append(ctx context.Context, streamID string, expected ExpectedVersion, events ...EventData) (AppendResult, error) {
	s.check()
	if err := CheckAppend(streamID, expected, events); err != nil {
		return AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return AppendResult{}, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	res, prepared, err := s.prepare(streamID, expected, events)
	if len(prepared) > 0 {
		s.publish(streamID, prepared)
	}
	return res, err
}

// prepare decides an append, with s.wmu held, and returns the events to
// publish (none for a repeated append or an error).
func (s *MemoryStore) prepare(streamID string, expected ExpectedVersion, events []EventData) (AppendResult, []Event, error) {
	version := int64(len(s.streams[streamID]))
	if res, ok := s.repeated(streamID, expected, events); ok {
		return res, nil, nil
	}
	if expected != Any && int64(expected) != version {
		return AppendResult{}, nil, &VersionConflictError{StreamID: streamID, Expected: expected, Actual: version}
	}
	for _, e := range events {
		if _, ok := s.ids[e.ID]; ok {
			return AppendResult{}, nil, duplicateError(e.ID)
		}
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	next := int64(len(s.log)) + 1
	out := make([]Event, len(events))
	for i, e := range events {
		out[i] = Event{
			ID:             e.ID,
			StreamID:       streamID,
			StreamVersion:  version + int64(i) + 1,
			GlobalPosition: next + int64(i),
			Type:           e.Type,
			SchemaVersion:  e.SchemaVersion,
			Data:           slices.Clone(e.Data),
			Metadata:       cloneMetadata(e.Metadata),
			RecordedAt:     now,
		}
	}
	last := out[len(out)-1]
	return AppendResult{StreamVersion: last.StreamVersion, GlobalPosition: last.GlobalPosition}, out, nil
}

// publish makes prepared events visible to readers, then wakes listeners.
// s.wmu is held.
func (s *MemoryStore) publish(streamID string, events []Event) {
	s.mu.Lock()
	stream := s.streams[streamID]
	for _, e := range events {
		idx := int64(len(s.log))
		s.log = append(s.log, e)
		stream = append(stream, idx)
		s.ids[e.ID] = idx
	}
	s.streams[streamID] = stream
	wakes := make([]func(), 0, len(s.listeners))
	for w := range s.listeners {
		wakes = append(wakes, *w)
	}
	s.mu.Unlock()
	for _, w := range wakes {
		w()
	}
}

// repeated reports whether events are already stored as one earlier append
// of the same stream that expected agrees with, and returns its result.
// s.wmu is held.
func (s *MemoryStore) repeated(streamID string, expected ExpectedVersion, events []EventData) (AppendResult, bool) {
	idx, ok := s.ids[events[0].ID]
	if !ok {
		return AppendResult{}, false
	}
	first := s.log[idx]
	if first.StreamID != streamID || (expected != Any && int64(expected) != first.StreamVersion-1) {
		return AppendResult{}, false
	}
	stream := s.streams[streamID]
	last := first.StreamVersion + int64(len(events)) - 1
	if last > int64(len(stream)) {
		return AppendResult{}, false
	}
	for i, e := range events {
		if s.log[stream[first.StreamVersion-1+int64(i)]].ID != e.ID {
			return AppendResult{}, false
		}
	}
	return AppendResult{StreamVersion: last, GlobalPosition: s.log[stream[last-1]].GlobalPosition}, true
}

// ReadStream implements Store.ReadStream. It reads the stream as it was when
// the loop started, without holding a lock while the loop body runs.
func (s *MemoryStore) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[Event, error] {
	s.check()
	return func(yield func(Event, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(Event{}, err)
			return
		}
		s.mu.RLock()
		stream, log := s.streams[streamID], s.log // append-only: these views stay valid
		s.mu.RUnlock()
		for v := max(from, 1); v <= int64(len(stream)); v++ {
			if err := ctx.Err(); err != nil {
				yield(Event{}, err)
				return
			}
			if !yield(cloneEvent(log[stream[v-1]]), nil) {
				return
			}
		}
	}
}

// ReadAll implements Store.ReadAll.
func (s *MemoryStore) ReadAll(ctx context.Context, from int64, limit int) ([]Event, error) {
	s.check()
	if limit < 1 {
		return nil, invalidf("ReadAll limit %d; at least 1", limit)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	log := s.log
	s.mu.RUnlock()
	start := max(from, 1) - 1
	if start >= int64(len(log)) {
		return nil, nil
	}
	page := log[start:min(int64(len(log)), start+int64(limit))]
	out := make([]Event, len(page))
	for i, e := range page {
		out[i] = cloneEvent(e)
	}
	return out, nil
}

// HeadPosition implements HeadReader.HeadPosition.
func (s *MemoryStore) HeadPosition(ctx context.Context) (int64, error) {
	s.check()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int64(len(s.log)), nil
}

// Listen implements Listener.Listen: wake is called after every append that
// stores events.
func (s *MemoryStore) Listen(ctx context.Context, wake func()) error {
	s.check()
	key := &wake
	s.mu.Lock()
	s.listeners[key] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, key)
		s.mu.Unlock()
	}()
	wake()
	<-ctx.Done()
	return ctx.Err()
}

// SaveSnapshot implements SnapshotStore.SaveSnapshot.
func (s *MemoryStore) SaveSnapshot(ctx context.Context, snap Snapshot) error {
	s.check()
	if err := CheckSnapshot(snap); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	snap.Data = slices.Clone(snap.Data)
	snap.RecordedAt = time.Now().UTC().Truncate(time.Microsecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.snapshots[snap.StreamID]; ok && old.SchemaVersion == snap.SchemaVersion && old.StreamVersion > snap.StreamVersion {
		return nil
	}
	s.snapshots[snap.StreamID] = snap
	return nil
}

// LoadSnapshot implements SnapshotStore.LoadSnapshot.
func (s *MemoryStore) LoadSnapshot(ctx context.Context, streamID string) (Snapshot, bool, error) {
	s.check()
	if err := ctx.Err(); err != nil {
		return Snapshot{}, false, err
	}
	s.mu.RLock()
	snap, ok := s.snapshots[streamID]
	s.mu.RUnlock()
	snap.Data = slices.Clone(snap.Data)
	return snap, ok, nil
}

func cloneEvent(e Event) Event {
	e.Data = slices.Clone(e.Data)
	e.Metadata = cloneMetadata(e.Metadata)
	return e
}

func cloneMetadata(md Metadata) Metadata {
	if len(md.Headers) == 0 {
		md.Headers = nil
	} else {
		md.Headers = maps.Clone(md.Headers)
	}
	return md
}
