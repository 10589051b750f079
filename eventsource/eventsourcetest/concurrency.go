package eventsourcetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testWritersRaceOnOneStream: 32 writers append to one stream at once, each
// retrying after a conflict from the version the conflict reports. The
// stream ends with every writer's events once, at contiguous versions, and
// every refused attempt was a version conflict.
func testWritersRaceOnOneStream(t *testing.T, h Harness) {
	ctx := testContext(t)
	const writers, each = 32, 4
	var conflicts atomic.Int64
	written := make([][]uuid.UUID, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			version := int64(0)
			for len(written[w]) < each {
				e := NewEvent("e", fmt.Sprintf(`{"writer":%d}`, w))
				res, err := h.Store.Append(ctx, "race", eventsource.ExpectedVersion(version), e)
				var conflict *eventsource.VersionConflictError
				switch {
				case err == nil:
					written[w] = append(written[w], e.ID)
					version = res.StreamVersion
				case errors.As(err, &conflict):
					if conflict.Actual <= version {
						errs <- fmt.Errorf("writer %d: conflict reports version %d, not after the expected %d", w, conflict.Actual, version)
						return
					}
					conflicts.Add(1)
					version = conflict.Actual
				default:
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "every refused attempt must be a version conflict")
	}
	got := readStream(t, h.Store, "race", 1)
	require.Len(t, got, writers*each, "no event lost or duplicated")
	seen := map[uuid.UUID]bool{}
	for i, e := range got {
		require.Equal(t, int64(i+1), e.StreamVersion, "versions are contiguous")
		require.False(t, seen[e.ID], "event %s stored twice", e.ID)
		seen[e.ID] = true
	}
	for w := range writers {
		for _, id := range written[w] {
			require.True(t, seen[id], "writer %d's event %s is missing", w, id)
		}
	}
	t.Logf("%d writers stored %d events through %d conflicts", writers, len(got), conflicts.Load())
}

// testConflictRounds: in each round 32 writers append at the same expected
// version at once: exactly one wins, and each of the others gets a
// *VersionConflictError with the winner's version.
func testConflictRounds(t *testing.T, h Harness) {
	ctx := testContext(t)
	const writers, rounds = 32, 5
	var winners []uuid.UUID
	for round := range rounds {
		batch := make([]eventsource.EventData, writers)
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range writers {
			batch[w] = NewEvent("e", fmt.Sprintf(`{"round":%d,"writer":%d}`, round, w))
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[w] = h.Store.Append(ctx, "rounds", eventsource.ExpectedVersion(round), batch[w])
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for w, err := range errs {
			if err == nil {
				won++
				winners = append(winners, batch[w].ID)
				continue
			}
			var conflict *eventsource.VersionConflictError
			require.ErrorAs(t, err, &conflict, "round %d writer %d", round, w)
			assert.Equal(t, int64(round+1), conflict.Actual, "round %d writer %d", round, w)
		}
		require.Equal(t, 1, won, "round %d: exactly one writer wins", round)
	}
	assert.Equal(t, winners, ids(readStream(t, h.Store, "rounds", 1)))
}

// testGapSafeGlobalLog holds an append open (uncommitted) while later
// appends go on and a reader tails the global log. Whatever positions the
// store gives, the reader — which always continues after the last position
// it got — must end up with every event exactly once, in order: it never
// passes the held event before it commits.
func testGapSafeGlobalLog(t *testing.T, h Harness) {
	ctx := testContext(t)
	s := h.Store
	_, err := s.Append(ctx, "before", eventsource.NoStream, events(3, "e")...)
	require.NoError(t, err)
	held := NewEvent("held", `{}`)
	finish, err := h.HoldAppend(ctx, "held", eventsource.NoStream, held)
	require.NoError(t, err)

	const writers = 8
	total := 3 + 1 + writers
	var reads, next atomic.Int64 // reads done; position the reader reads from next
	next.Store(1)
	progress := make(chan struct{}, 1)
	stop := make(chan struct{})
	got := make(chan []eventsource.Event, 1)
	readErr := make(chan error, 1)
	go func() { // the tailing reader: always continues after the last position it got
		var seen []eventsource.Event
		for {
			select {
			case <-stop:
				got <- seen
				return
			default:
			}
			page, err := s.ReadAll(ctx, next.Load(), 100)
			if err != nil {
				readErr <- err
				return
			}
			seen = append(seen, page...)
			if len(page) > 0 {
				next.Store(page[len(page)-1].GlobalPosition + 1)
			}
			reads.Add(1)
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}()

	var wg sync.WaitGroup
	var done atomic.Int64
	writeErrs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done.Add(1)
			_, err := s.Append(ctx, fmt.Sprint("later-", w), eventsource.NoStream, NewEvent("later", `{}`))
			writeErrs <- err
		}()
	}
	writersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(writersDone)
	}()
	// Give the later appends every chance to commit and the reader to pass
	// the held append: wait until they are all done, or (in stores where
	// they wait for the held append) until the reader has read the log
	// many times while they wait.
	startReads := reads.Load()
wait:
	for reads.Load() < startReads+200 {
		select {
		case <-writersDone:
			break wait
		case <-progress:
		case err := <-readErr:
			require.NoError(t, err)
		}
	}
	t.Logf("before the held append committed: %d of %d later appends done, %d reads", done.Load(), writers, reads.Load()-startReads)
	require.NoError(t, finish(true))
	<-writersDone
	close(writeErrs)
	for err := range writeErrs {
		require.NoError(t, err)
	}
	log := readAll(t, s, 1000)
	require.Len(t, log, total)
	end := log[len(log)-1].GlobalPosition
	deadline := time.After(30 * time.Second)
	for next.Load() <= end {
		select {
		case <-progress:
		case err := <-readErr:
			require.NoError(t, err)
		case <-deadline:
			t.Fatalf("the reader never reached position %d", end)
		}
	}
	close(stop)
	seen := <-got
	requireOrdered(t, seen)
	assert.Equal(t, ids(log), ids(seen), "the tailing reader saw every event once, in order: it never passed one that committed late")
	assert.Contains(t, ids(seen), held.ID)
}

// testRolledBackAppend: an append rolled back leaves nothing behind, and
// readers tailing the log are not held up by it.
func testRolledBackAppend(t *testing.T, h Harness) {
	ctx := testContext(t)
	s := h.Store
	finish, err := h.HoldAppend(ctx, "s", eventsource.NoStream, NewEvent("rolled-back", `{}`))
	require.NoError(t, err)
	require.NoError(t, finish(false))
	e := NewEvent("kept", `{}`)
	res, err := s.Append(ctx, "s", eventsource.NoStream, e)
	require.NoError(t, err)
	assert.Equal(t, int64(1), res.StreamVersion)
	log := readAll(t, s, 10)
	require.Len(t, log, 1)
	assert.Equal(t, e.ID, log[0].ID)
	assert.Equal(t, []uuid.UUID{e.ID}, ids(readStream(t, s, "s", 1)))
}

// testWritersAndTailingReaders: 16 writers append to their own streams while
// 4 subscriptions tail the global log; each subscription sees every event
// exactly once, in global order.
func testWritersAndTailingReaders(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	const writers, appends, readers = 16, 12, 4

	collectors := make([]*collector, readers)
	runErrs := make(chan error, readers)
	for r := range readers {
		c := newCollector()
		collectors[r] = c
		sub, err := eventsource.NewSubscription(h.Store, c.handle, eventsource.SubscriptionConfig{
			PageSize:     1 + r*7, // 1, 8, 15, 22: pages end everywhere
			PollInterval: 20 * time.Millisecond,
		})
		require.NoError(t, err)
		go func() { runErrs <- sub.Run(ctx) }()
	}

	var wg sync.WaitGroup
	var stored atomic.Int64
	writeErrs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			version := int64(0)
			for range appends {
				batch := events(1+rng.IntN(3), "e")
				res, err := h.Store.Append(ctx, fmt.Sprint("writer-", w), eventsource.ExpectedVersion(version), batch...)
				if err != nil {
					writeErrs <- err
					return
				}
				version = res.StreamVersion
				stored.Add(int64(len(batch)))
			}
		}()
	}
	wg.Wait()
	close(writeErrs)
	for err := range writeErrs {
		require.NoError(t, err)
	}
	total := int(stored.Load())
	log := readAll(t, h.Store, 500)
	require.Len(t, log, total)
	requireOrdered(t, log)
	for r, c := range collectors {
		seen := c.wait(t, total, runErrs)
		require.Len(t, seen, total, "reader %d", r)
		assert.Equal(t, ids(log), ids(seen), "reader %d saw every event once, in global order", r)
	}
	t.Logf("%d writers stored %d events; %d readers each saw all of them in order", writers, total, readers)
	cancel()
	for range readers {
		require.ErrorIs(t, <-runErrs, context.Canceled)
	}
}

// collector gathers the events a subscription handles.
type collector struct {
	mu     sync.Mutex
	events []eventsource.Event
	grew   chan struct{} // receives after each event (coalesced)
}

func newCollector() *collector { return &collector{grew: make(chan struct{}, 1)} }

func (c *collector) handle(_ context.Context, e eventsource.Event) error {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
	select {
	case c.grew <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) snapshot() []eventsource.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]eventsource.Event(nil), c.events...)
}

// wait returns the events once there are at least n, failing the test after
// 30 seconds or when a subscription stops with an error.
func (c *collector) wait(t *testing.T, n int, runErrs <-chan error) []eventsource.Event {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if got := c.snapshot(); len(got) >= n {
			return got
		}
		select {
		case <-c.grew:
		case err := <-runErrs:
			t.Fatalf("subscription stopped: %v", err)
		case <-deadline:
			t.Fatalf("subscription has %d of %d events after 30s", len(c.snapshot()), n)
		}
	}
}
