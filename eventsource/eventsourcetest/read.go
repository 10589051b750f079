package eventsourcetest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testReadStreamFrom: reading from a version yields that version and the
// ones after it; unknown streams and versions past the end yield nothing.
func testReadStreamFrom(t *testing.T, h Harness) {
	ctx := testContext(t)
	s := h.Store
	a := events(3, "e")
	b := events(2, "e")
	_, err := s.Append(ctx, "s", eventsource.NoStream, a...)
	require.NoError(t, err)
	_, err = s.Append(ctx, "t", eventsource.NoStream, events(2, "e")...)
	require.NoError(t, err)
	_, err = s.Append(ctx, "s", 3, b...)
	require.NoError(t, err)
	all := append(dataIDs(a), dataIDs(b)...)
	var inLog []eventsource.Event // stream s as the global log has it
	for _, e := range readAll(t, s, 100) {
		if e.StreamID == "s" {
			inLog = append(inLog, e)
		}
	}
	for _, tc := range []struct {
		from int64
		want int // index into all of the first event
	}{{-5, 0}, {0, 0}, {1, 0}, {3, 2}, {5, 4}, {6, 5}, {100, 5}} {
		t.Run(fmt.Sprint("from=", tc.from), func(t *testing.T) {
			got := readStream(t, s, "s", tc.from)
			if tc.want == len(all) {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, all[tc.want:], ids(got))
			assert.Equal(t, int64(tc.want+1), got[0].StreamVersion)
			assert.Equal(t, inLog[tc.want:], got, "the same envelopes, global positions included, as the log")
		})
	}
	assert.Empty(t, readStream(t, s, "unknown", 1))
}

// testReadStreamBreakReleases: a loop that stops early releases what the
// read held (a connection, a lock): many abandoned reads later, appends and
// reads still work, and the loop body may itself append and read.
func testReadStreamBreakReleases(t *testing.T, h Harness) {
	ctx, cancel := context.WithTimeout(testContext(t), 30*time.Second)
	defer cancel()
	s := h.Store
	_, err := s.Append(ctx, "s", eventsource.NoStream, events(10, "e")...)
	require.NoError(t, err)
	for i := range 50 {
		for e, err := range s.ReadStream(ctx, "s", 1) {
			require.NoError(t, err, "read %d", i)
			require.Equal(t, int64(1), e.StreamVersion)
			break
		}
	}
	n := 0
	for e, err := range s.ReadStream(ctx, "s", 1) {
		require.NoError(t, err)
		_, err = s.Append(ctx, "t", eventsource.Any, NewEvent("e", `{}`))
		require.NoError(t, err, "appending inside a read loop")
		for inner, err := range s.ReadStream(ctx, "t", 1) {
			require.NoError(t, err, "a read inside a read loop")
			require.Equal(t, int64(1), inner.StreamVersion)
			break
		}
		n++
		if e.StreamVersion == 5 {
			break
		}
	}
	assert.Equal(t, 5, n)
	assert.Len(t, readStream(t, s, "t", 1), 5)
	assert.Len(t, readAll(t, s, 100), 15)
}

// testReadStreamStreams: reading the first event of a long stream costs a
// small part of reading all of it: the read fetches as the loop asks
// instead of loading the stream into memory.
func testReadStreamStreams(t *testing.T, h Harness) {
	ctx := testContext(t)
	const n, size = 3000, 1024
	payload := `{"pad":"` + strings.Repeat("x", size-10) + `"}`
	for i := 0; i < n; i += 300 {
		batch := make([]eventsource.EventData, 300)
		for j := range batch {
			batch[j] = NewEvent("e", payload)
		}
		_, err := h.Store.Append(ctx, "big", eventsource.ExpectedVersion(i), batch...)
		require.NoError(t, err)
	}
	first := allocated(func() {
		for e, err := range h.Store.ReadStream(ctx, "big", 1) {
			require.NoError(t, err)
			require.Len(t, e.Data, len(payload))
			break
		}
	})
	count := 0
	all := allocated(func() {
		for _, err := range h.Store.ReadStream(ctx, "big", 1) {
			require.NoError(t, err)
			count++
		}
	})
	require.Equal(t, n, count)
	t.Logf("allocated %d KiB to read the first event, %d KiB to read all %d", first>>10, all>>10, n)
	require.Greater(t, all, uint64(n*size), "reading the whole stream allocates at least its data")
	assert.Less(t, first, all/10, "reading one event must not load the stream")
}

// allocated returns the bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// testReadAllPages: the global log read in pages is the same log as read at
// once, in position order, and reading from a position starts there.
func testReadAllPages(t *testing.T, h Harness) {
	ctx := testContext(t)
	s := h.Store
	streams := []string{"a", "b", "c"}
	for i := range 25 {
		_, err := s.Append(ctx, streams[i%3], eventsource.Any, NewEvent("e", fmt.Sprintf(`{"i":%d}`, i)))
		require.NoError(t, err)
	}
	_, err := s.Append(ctx, "b", eventsource.Any, events(5, "e")...)
	require.NoError(t, err)

	whole := readAll(t, s, 1000)
	require.Len(t, whole, 30)
	requireOrdered(t, whole)
	for _, limit := range []int{1, 7, 29, 30} {
		assert.Equal(t, whole, readAll(t, s, limit), "pages of %d", limit)
	}
	mid := whole[12].GlobalPosition
	page, err := s.ReadAll(ctx, mid, 5)
	require.NoError(t, err)
	assert.Equal(t, whole[12:17], page, "reading from a position starts at it")
	page, err = s.ReadAll(ctx, whole[29].GlobalPosition+1, 5)
	require.NoError(t, err)
	assert.Empty(t, page)
	page, err = s.ReadAll(ctx, 0, 2)
	require.NoError(t, err)
	assert.Equal(t, whole[:2], page, "positions below 1 read from the start")
}

// testHeadPosition: HeadPosition is 0 for an empty log, then the position
// of the last committed event; an append still in flight does not count
// until it commits, and a rolled-back one never does.
func testHeadPosition(t *testing.T, h Harness) {
	ctx := testContext(t)
	s := h.Store
	head := func() int64 {
		t.Helper()
		p, err := s.HeadPosition(ctx)
		require.NoError(t, err)
		return p
	}
	assert.Equal(t, int64(0), head(), "an empty log")
	res, err := s.Append(ctx, "a", eventsource.NoStream, events(3, "e")...)
	require.NoError(t, err)
	assert.Equal(t, res.GlobalPosition, head())

	finish, err := h.HoldAppend(ctx, "held", eventsource.NoStream, NewEvent("e", `{}`))
	require.NoError(t, err)
	assert.Equal(t, res.GlobalPosition, head(), "an append in flight is not yet the head")
	require.NoError(t, finish(false))
	assert.Equal(t, res.GlobalPosition, head(), "a rolled-back append never is")

	finish, err = h.HoldAppend(ctx, "held", eventsource.NoStream, NewEvent("e", `{}`))
	require.NoError(t, err)
	require.NoError(t, finish(true))
	log := readAll(t, s, 100)
	require.Len(t, log, 4)
	assert.Equal(t, log[3].GlobalPosition, head(), "a committed append is")
}
