package eventsourcetest

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testAppendAndRead: every field of the envelope survives the round trip,
// versions count from 1 per stream and positions increase across streams.
func testAppendAndRead(t *testing.T, h Harness) {
	ctx := testContext(t)
	s := h.Store
	first := eventsource.EventData{
		ID: uuid.New(), Type: "account.opened", SchemaVersion: 3, Data: []byte(`{"owner":"ada"}`),
		Metadata: eventsource.Metadata{
			CorrelationID: "corr-1", CausationID: "cmd-9",
			Headers: map[string]string{"tenant": "t1", "traceparent": "00-abc-def-01", "ünï": "çødé"},
		},
	}
	second := eventsource.EventData{ID: uuid.New(), Type: "account.noted", SchemaVersion: 1, Data: []byte{0, 1, 2, 255}}
	empty := eventsource.EventData{ID: uuid.New(), Type: "account.touched", SchemaVersion: 1}
	before := time.Now().Add(-time.Second)
	res, err := s.Append(ctx, "acc-1", eventsource.NoStream, first, second)
	require.NoError(t, err)
	assert.Equal(t, int64(2), res.StreamVersion)
	other, err := s.Append(ctx, "acc-2", eventsource.NoStream, empty)
	require.NoError(t, err)
	assert.Equal(t, int64(1), other.StreamVersion)
	after := time.Now().Add(time.Second)

	got := readStream(t, s, "acc-1", 1)
	require.Len(t, got, 2)
	for i, want := range []eventsource.EventData{first, second} {
		e := got[i]
		assert.Equal(t, want.ID, e.ID)
		assert.Equal(t, "acc-1", e.StreamID)
		assert.Equal(t, int64(i+1), e.StreamVersion)
		assert.Equal(t, want.Type, e.Type)
		assert.Equal(t, want.SchemaVersion, e.SchemaVersion)
		assert.Equal(t, want.Data, e.Data)
		assert.Equal(t, want.Metadata.CorrelationID, e.Metadata.CorrelationID)
		assert.Equal(t, want.Metadata.CausationID, e.Metadata.CausationID)
		if len(want.Metadata.Headers) == 0 {
			assert.Empty(t, e.Metadata.Headers)
		} else {
			assert.Equal(t, want.Metadata.Headers, e.Metadata.Headers)
		}
		assert.True(t, e.RecordedAt.After(before) && e.RecordedAt.Before(after), "RecordedAt %v not between %v and %v", e.RecordedAt, before, after)
		assert.Equal(t, time.UTC, e.RecordedAt.Location())
	}
	assert.Less(t, got[0].GlobalPosition, got[1].GlobalPosition)
	assert.Equal(t, res.GlobalPosition, got[1].GlobalPosition, "AppendResult.GlobalPosition is the last event's")

	log := readAll(t, s, 10)
	require.Len(t, log, 3)
	assert.Equal(t, []uuid.UUID{first.ID, second.ID, empty.ID}, ids(log))
	assert.Equal(t, other.GlobalPosition, log[2].GlobalPosition)
	assert.Empty(t, log[2].Data)
	assert.Equal(t, got, log[:2], "the stream and the global log return the same envelopes")
	requireOrdered(t, log)
}

// testExpectedVersion: NoStream, Any and exact versions; every refusal is a
// *VersionConflictError with the actual version and stores nothing.
func testExpectedVersion(t *testing.T, h Harness) {
	ctx := testContext(t)
	s := h.Store
	_, err := s.Append(ctx, "s", eventsource.NoStream, events(2, "e")...)
	require.NoError(t, err)

	for _, tc := range []struct {
		name     string
		stream   string
		expected eventsource.ExpectedVersion
		actual   int64 // the version a conflict reports; -1 if the append succeeds
	}{
		{"NoStreamOnExisting", "s", eventsource.NoStream, 2},
		{"TooLow", "s", 1, 2},
		{"TooHigh", "s", 3, 2},
		{"ExactOnMissing", "missing", 1, 0},
		{"Exact", "s", 2, -1},
		{"AnyOnExisting", "s", eventsource.Any, -1},
		{"AnyOnNew", "new-any", eventsource.Any, -1},
		{"NoStreamOnNew", "new-none", eventsource.NoStream, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := readStream(t, s, tc.stream, 1)
			e := NewEvent("e", `{}`)
			res, err := s.Append(ctx, tc.stream, tc.expected, e)
			after := readStream(t, s, tc.stream, 1)
			if tc.actual < 0 {
				require.NoError(t, err)
				assert.Equal(t, int64(len(before)+1), res.StreamVersion)
				require.Len(t, after, len(before)+1)
				assert.Equal(t, e.ID, after[len(after)-1].ID)
				return
			}
			require.ErrorIs(t, err, eventsource.ErrVersionConflict)
			var conflict *eventsource.VersionConflictError
			require.ErrorAs(t, err, &conflict)
			assert.Equal(t, tc.stream, conflict.StreamID)
			assert.Equal(t, tc.expected, conflict.Expected)
			assert.Equal(t, tc.actual, conflict.Actual)
			assert.Equal(t, before, after, "a refused append stores nothing")
		})
	}
}

// testIdempotentAppend: the same events appended again are recognised and
// stored once; any other reuse of their IDs fails with ErrDuplicateEvent.
func testIdempotentAppend(t *testing.T, h Harness) {
	ctx := testContext(t)
	s := h.Store
	batch := events(3, "e")
	first, err := s.Append(ctx, "s", eventsource.NoStream, batch...)
	require.NoError(t, err)
	later := NewEvent("e", `{"later":true}`)
	_, err = s.Append(ctx, "s", 3, later)
	require.NoError(t, err)

	repeats := []struct {
		name     string
		expected eventsource.ExpectedVersion
		events   []eventsource.EventData
		want     int64 // stream version returned
	}{
		{"SameExpected", eventsource.NoStream, batch, 3},
		{"Any", eventsource.Any, batch, 3},
		{"Prefix", eventsource.NoStream, batch[:1], 1},
		{"Suffix", 1, batch[1:], 3},
		{"LaterAppend", 3, []eventsource.EventData{later}, 4},
	}
	for _, tc := range repeats {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Append(ctx, "s", tc.expected, tc.events...)
			require.NoError(t, err)
			assert.Equal(t, tc.want, res.StreamVersion)
			if tc.want == 3 {
				assert.Equal(t, first, res, "a repeated append returns the first one's result")
			}
			assert.Len(t, readStream(t, s, "s", 1), 4, "nothing stored again")
		})
	}

	refusals := []struct {
		name     string
		stream   string
		expected eventsource.ExpectedVersion
		events   []eventsource.EventData
		want     error
	}{
		{"WrongExpected", "s", 2, batch, eventsource.ErrVersionConflict},
		{"ExtraEvent", "s", eventsource.Any, append(batch[:3:3], NewEvent("e", `{}`)), eventsource.ErrDuplicateEvent},
		{"Reordered", "s", eventsource.Any, []eventsource.EventData{batch[1], batch[0]}, eventsource.ErrDuplicateEvent},
		{"NewThenOld", "s", 4, []eventsource.EventData{NewEvent("e", `{}`), batch[0]}, eventsource.ErrDuplicateEvent},
		{"OtherStream", "other", eventsource.NoStream, batch[:1], eventsource.ErrDuplicateEvent},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Append(ctx, tc.stream, tc.expected, tc.events...)
			require.ErrorIs(t, err, tc.want)
			assert.Len(t, readStream(t, s, "s", 1), 4)
			assert.Empty(t, readStream(t, s, "other", 1))
		})
	}
	assert.Len(t, readAll(t, s, 100), 4)
}

// testIdempotentAppendRacing: the same append sent by many goroutines at once
// (a client retrying while its first attempt is still running) is stored
// once, and every sender gets the same result.
func testIdempotentAppendRacing(t *testing.T, h Harness) {
	ctx := testContext(t)
	const senders = 8
	for round := range 5 {
		batch := events(2, "e")
		expected := eventsource.ExpectedVersion(2 * round)
		results := make([]eventsource.AppendResult, senders)
		errs := make([]error, senders)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = h.Store.Append(ctx, "s", expected, batch...)
			}()
		}
		close(start)
		wg.Wait()
		for i := range senders {
			require.NoError(t, errs[i], "sender %d", i)
			assert.Equal(t, results[0], results[i])
		}
	}
	got := readStream(t, h.Store, "s", 1)
	require.Len(t, got, 10)
	assert.Len(t, readAll(t, h.Store, 100), 10)
}

// testUnknownOutcomeRetry: appends cut off by a deadline at random moments
// (so some committed and some did not) are retried with the same events;
// every event ends up stored exactly once, in order.
func testUnknownOutcomeRetry(t *testing.T, h Harness) {
	ctx := testContext(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	var want []uuid.UUID
	version, cut := int64(0), 0
	for range 40 {
		batch := events(2, "e")
		want = append(want, dataIDs(batch)...)
		cctx, cancel := context.WithTimeout(ctx, time.Duration(rng.IntN(3000))*time.Microsecond)
		_, err := h.Store.Append(cctx, "s", eventsource.ExpectedVersion(version), batch...)
		cancel()
		if err != nil {
			require.False(t, errors.Is(err, eventsource.ErrVersionConflict) || errors.Is(err, eventsource.ErrDuplicateEvent), "a cut-off append must not be refused: %v", err)
			cut++
			res, err := h.Store.Append(ctx, "s", eventsource.ExpectedVersion(version), batch...)
			require.NoError(t, err, "retrying the same append")
			require.Equal(t, version+2, res.StreamVersion)
		}
		version += 2
	}
	t.Logf("%d of 40 appends were cut off and retried", cut)
	got := readStream(t, h.Store, "s", 1)
	assert.Equal(t, want, ids(got))
	for i, e := range got {
		require.Equal(t, int64(i+1), e.StreamVersion)
	}
}

// testInvalidAppend: arguments every driver refuses alike, with ErrInvalid,
// storing nothing.
func testInvalidAppend(t *testing.T, h Harness) {
	ctx := testContext(t)
	ok := NewEvent("e", `{}`)
	dup := NewEvent("e", `{}`)
	for _, tc := range []struct {
		name     string
		stream   string
		expected eventsource.ExpectedVersion
		events   []eventsource.EventData
	}{
		{"EmptyStream", "", eventsource.Any, []eventsource.EventData{ok}},
		{"LongStream", strings.Repeat("s", eventsource.MaxStreamIDLen+1), eventsource.Any, []eventsource.EventData{ok}},
		{"NULInStream", "a\x00b", eventsource.Any, []eventsource.EventData{ok}},
		{"BadUTF8Stream", "a\xffb", eventsource.Any, []eventsource.EventData{ok}},
		{"BadExpected", "s", -2, []eventsource.EventData{ok}},
		{"NoEvents", "s", eventsource.Any, nil},
		{"ZeroID", "s", eventsource.Any, []eventsource.EventData{{Type: "e", SchemaVersion: 1}}},
		{"RepeatedID", "s", eventsource.Any, []eventsource.EventData{dup, dup}},
		{"EmptyType", "s", eventsource.Any, []eventsource.EventData{{ID: uuid.New(), SchemaVersion: 1}}},
		{"SchemaZero", "s", eventsource.Any, []eventsource.EventData{{ID: uuid.New(), Type: "e"}}},
		{"NULInHeader", "s", eventsource.Any, []eventsource.EventData{{ID: uuid.New(), Type: "e", SchemaVersion: 1,
			Metadata: eventsource.Metadata{Headers: map[string]string{"k": "a\x00"}}}}},
		{"BadUTF8Correlation", "s", eventsource.Any, []eventsource.EventData{{ID: uuid.New(), Type: "e", SchemaVersion: 1,
			Metadata: eventsource.Metadata{CorrelationID: "\xff"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Store.Append(ctx, tc.stream, tc.expected, tc.events...)
			require.ErrorIs(t, err, eventsource.ErrInvalid)
		})
	}
	_, err := h.Store.ReadAll(ctx, 1, 0)
	require.ErrorIs(t, err, eventsource.ErrInvalid, "ReadAll with limit 0")
	assert.Empty(t, readAll(t, h.Store, 10))
}

// testCanceledContext: a canceled context stops every call with its error.
func testCanceledContext(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Store.Append(ctx, "s", eventsource.Any, NewEvent("e", `{}`))
	require.ErrorIs(t, err, context.Canceled)
	_, err = h.Store.ReadAll(ctx, 1, 10)
	require.ErrorIs(t, err, context.Canceled)
	n := 0
	for _, err := range h.Store.ReadStream(ctx, "s", 1) {
		require.ErrorIs(t, err, context.Canceled)
		n++
	}
	assert.Equal(t, 1, n, "ReadStream yields the error once")
	_, _, err = h.Store.LoadSnapshot(ctx, "s")
	require.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, readAll(t, h.Store, 10))
}
