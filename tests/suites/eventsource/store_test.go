package eventsource_test

import (
	"context"
	"errors"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/google/uuid"
)

// store is an event store of this package: it keeps events in another
// store (eventsource.MemoryStore, or SQLite's when a writer process is
// killed), and has the deliberate defect flaw names ("" for none).
//
// Appends take turns on appendMu, which HoldAppend keeps until its append
// commits or rolls back: an open transaction, as the suite needs one.
type store struct {
	inner    eventsourcetest.Store
	flaw     string
	appendMu sync.Mutex
	held     atomic.Int64 // events of the held append, if any
}

var _ eventsourcetest.Store = (*store)(nil)

// splitPause is the pause between the two transactions of a batch split
// by the "splits-batches" flaw: longer than the crash test's kill delay.
const splitPause = 60 * time.Millisecond

func (s *store) Append(ctx context.Context, streamID string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error) {
	switch s.flaw {
	case "ignores-expected-version":
		expected = eventsource.Any
	case "splits-batches":
		if len(events) == 0 {
			break
		}
		return s.appendInTwo(ctx, streamID, expected, events)
	case "acks-before-durable":
		return s.appendBehind(streamID, expected, events)
	}
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	res, err := s.inner.Append(ctx, streamID, expected, events...)
	if s.flaw == "accepts-duplicate-ids" && errors.Is(err, eventsource.ErrDuplicateEvent) {
		// Stores the batch anyway, its events under new IDs.
		renamed := slices.Clone(events)
		for i := range renamed {
			renamed[i].ID = uuid.New()
		}
		return s.inner.Append(ctx, streamID, expected, renamed...)
	}
	return res, err
}

// appendInTwo appends a batch's first event in a transaction of its own
// and the rest in another, with a pause between them: a batch is not
// atomic.
func (s *store) appendInTwo(ctx context.Context, streamID string, expected eventsource.ExpectedVersion, events []eventsource.EventData) (eventsource.AppendResult, error) {
	res, err := s.inner.Append(ctx, streamID, expected, events[:1]...)
	if err != nil || len(events) == 1 {
		return res, err
	}
	time.Sleep(splitPause)
	return s.inner.Append(ctx, streamID, eventsource.ExpectedVersion(res.StreamVersion), events[1:]...)
}

// appendBehind acknowledges the append at once and writes it a moment
// later: a process that dies in between loses what it acknowledged.
func (s *store) appendBehind(streamID string, expected eventsource.ExpectedVersion, events []eventsource.EventData) (eventsource.AppendResult, error) {
	if err := eventsource.CheckAppend(streamID, expected, events); err != nil {
		return eventsource.AppendResult{}, err
	}
	events = slices.Clone(events)
	go func() {
		time.Sleep(100 * time.Millisecond)
		s.appendMu.Lock()
		defer s.appendMu.Unlock()
		_, _ = s.inner.Append(context.Background(), streamID, expected, events...)
	}()
	return eventsource.AppendResult{StreamVersion: max(int64(expected), 0) + int64(len(events))}, nil
}

// holdAppend decides an append (its arguments and expected version) and
// keeps other appends waiting until finish commits or drops it. Readers go
// on meanwhile.
func (s *store) holdAppend(ctx context.Context, streamID string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (func(commit bool) error, error) {
	if err := eventsource.CheckAppend(streamID, expected, events); err != nil {
		return nil, err
	}
	s.appendMu.Lock()
	if expected != eventsource.Any {
		version := int64(0)
		for _, err := range s.inner.ReadStream(ctx, streamID, 1) {
			if err != nil {
				s.appendMu.Unlock()
				return nil, err
			}
			version++
		}
		if version != int64(expected) {
			s.appendMu.Unlock()
			return nil, &eventsource.VersionConflictError{StreamID: streamID, Expected: expected, Actual: version}
		}
	}
	s.held.Store(int64(len(events)))
	var once sync.Once
	return func(commit bool) (err error) {
		once.Do(func() {
			defer s.appendMu.Unlock()
			defer s.held.Store(0)
			if commit {
				_, err = s.inner.Append(context.WithoutCancel(ctx), streamID, expected, events...)
			}
		})
		return err
	}, nil
}

func (s *store) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[eventsource.Event, error] {
	if s.flaw != "loads-whole-stream" {
		return s.inner.ReadStream(ctx, streamID, from)
	}
	return func(yield func(eventsource.Event, error) bool) {
		var all []eventsource.Event
		for e, err := range s.inner.ReadStream(ctx, streamID, from) {
			if err != nil {
				yield(e, err)
				return
			}
			all = append(all, e)
		}
		for _, e := range all {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func (s *store) ReadAll(ctx context.Context, from int64, limit int) ([]eventsource.Event, error) {
	page, err := s.inner.ReadAll(ctx, from, limit)
	if s.flaw == "reorders-log" {
		slices.Reverse(page)
	}
	return page, err
}

func (s *store) HeadPosition(ctx context.Context) (int64, error) {
	head, err := s.inner.HeadPosition(ctx)
	if s.flaw == "head-counts-held-append" { // counts an append before it commits
		head += s.held.Load()
	}
	return head, err
}

func (s *store) Listen(ctx context.Context, wake func()) error { return s.inner.Listen(ctx, wake) }

func (s *store) SaveSnapshot(ctx context.Context, snap eventsource.Snapshot) error {
	return s.inner.SaveSnapshot(ctx, snap)
}

func (s *store) LoadSnapshot(ctx context.Context, streamID string) (eventsource.Snapshot, bool, error) {
	return s.inner.LoadSnapshot(ctx, streamID)
}
