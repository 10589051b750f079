package idempotency_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultyStore wraps a store and fails or corrupts what the test asks for.
type faultyStore struct {
	idempotency.Store
	claimErr, completeErr error
	outcome               []byte // replaces stored outcomes when set
	afterClaim            func()
	deletes               atomic.Int32
}

func (s *faultyStore) Claim(ctx context.Context, c idempotency.Claim) (idempotency.Record, error) {
	if s.claimErr != nil {
		return idempotency.Record{}, s.claimErr
	}
	rec, err := s.Store.Claim(ctx, c)
	if s.afterClaim != nil {
		s.afterClaim()
	}
	if s.outcome != nil && rec.State == idempotency.Completed {
		rec.Outcome = s.outcome
	}
	return rec, err
}

func (s *faultyStore) Complete(ctx context.Context, ref idempotency.Ref, token int64, outcome []byte, exp time.Time) error {
	if s.completeErr != nil {
		return s.completeErr
	}
	return s.Store.Complete(ctx, ref, token, outcome, exp)
}

func (s *faultyStore) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	s.deletes.Add(1)
	return s.Store.DeleteExpired(ctx, now, limit)
}

func keeperOn(t *testing.T, s idempotency.Store, edit func(*idempotency.Config)) *idempotency.Keeper {
	cfg := idempotency.DefaultConfig()
	cfg.Store = s
	if edit != nil {
		edit(&cfg)
	}
	k, err := idempotency.New(cfg)
	require.NoError(t, err)
	return k
}

func TestRunCleanupRunsEveryIntervalUntilCancelled(t *testing.T) {
	leakcheck.Check(t)
	fake := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := &faultyStore{Store: idempotency.NewMemoryStore()}
	k := keeperOn(t, s, func(c *idempotency.Config) { c.Clock = fake })
	_, err := idempotency.Do(context.Background(), k, idempotency.Request{Key: "k"}, func(ctx context.Context) (int, error) { return 1, nil })
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.RunCleanup(ctx, time.Hour, nil) }()
	for range 24 {
		fake.BlockUntil(1)
		fake.Advance(time.Hour)
	}
	fake.BlockUntil(1)
	assert.Equal(t, int32(25), s.deletes.Load(), "one cleanup at the start and one per interval")
	assert.Zero(t, s.Store.(*idempotency.MemoryStore).Len(), "the record expired after its TTL and was deleted")
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Error(t, k.RunCleanup(context.Background(), 0, nil))
}

func TestRunCleanupReportsFailures(t *testing.T) {
	fake := clocktest.New(time.Now())
	boom := errors.New("store down")
	s := &failingDelete{Store: idempotency.NewMemoryStore(), err: boom}
	k := keeperOn(t, s, func(c *idempotency.Config) { c.Clock = fake })
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 10)
	done := make(chan error, 1)
	go func() { done <- k.RunCleanup(ctx, time.Minute, func(err error) { errs <- err }) }()
	assert.ErrorIs(t, <-errs, boom)
	fake.BlockUntil(1)
	fake.Advance(time.Minute)
	assert.ErrorIs(t, <-errs, boom, "retried at the next interval")
	cancel()
	<-done
}

type failingDelete struct {
	idempotency.Store
	err error
}

func (s *failingDelete) DeleteExpired(context.Context, time.Time, int) (int, error) { return 0, s.err }

func TestDoReportsUnusableOutcomes(t *testing.T) {
	ctx := context.Background()
	s := &faultyStore{Store: idempotency.NewMemoryStore()}
	k := keeperOn(t, s, nil)
	_, err := idempotency.Do(ctx, k, idempotency.Request{Key: "chan"}, func(ctx context.Context) (chan int, error) { return make(chan int), nil })
	require.ErrorContains(t, err, "encoding the outcome")
	v, err := idempotency.Do(ctx, k, idempotency.Request{Key: "chan"}, func(ctx context.Context) (int, error) { return 3, nil })
	require.NoError(t, err, "an outcome that could not be stored released the key")
	assert.Equal(t, 3, v)

	s.outcome = []byte("v{not json")
	_, err = idempotency.Do(ctx, k, idempotency.Request{Key: "chan"}, func(ctx context.Context) (int, error) { return 4, nil })
	assert.ErrorContains(t, err, "decoding the stored outcome")
	s.outcome = []byte("x")
	_, err = idempotency.Do(ctx, k, idempotency.Request{Key: "chan"}, func(ctx context.Context) (int, error) { return 4, nil })
	assert.ErrorContains(t, err, "is not Do's")
}

func TestStoreErrorsAreWrapped(t *testing.T) {
	boom := errors.New("connection refused")
	k := keeperOn(t, &faultyStore{Store: idempotency.NewMemoryStore(), claimErr: boom}, nil)
	_, err := idempotency.Do(context.Background(), k, idempotency.Request{Key: "k"}, func(ctx context.Context) (int, error) { return 1, nil })
	assert.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, `claiming key "k"`)
}

func TestOnReplayHook(t *testing.T) {
	var replays []idempotency.Ref
	k := keeperOn(t, idempotency.NewMemoryStore(), func(c *idempotency.Config) {
		c.OnReplay = func(ref idempotency.Ref) { replays = append(replays, ref) }
	})
	for range 3 {
		_, err := idempotency.Do(context.Background(), k, idempotency.Request{Scope: "s", Key: "k"}, func(ctx context.Context) (int, error) { return 1, nil })
		require.NoError(t, err)
	}
	assert.Equal(t, []idempotency.Ref{{Scope: "s", Key: "k"}, {Scope: "s", Key: "k"}}, replays)
}

func TestMiddlewareStoreFailures(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s := &faultyStore{Store: idempotency.NewMemoryStore()}
	mcfg := idempotency.DefaultMiddlewareConfig()
	mcfg.Keeper, mcfg.Logger = keeperOn(t, s, nil), logger
	m, err := idempotency.NewMiddleware(mcfg)
	require.NoError(t, err)
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("done")) }))
	key := "k1"
	send := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/", strings.NewReader("1"))
		r.Header.Set(idempotency.KeyHeader, key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	s.claimErr = errors.New("connection refused")
	w := send()
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	assert.Contains(t, logs.String(), "connection refused")

	s.claimErr, s.completeErr = nil, errors.New("write failed")
	w = send()
	assert.Equal(t, http.StatusOK, w.Code, "the response reaches the client though it could not be stored")
	assert.Equal(t, "done", w.Body.String())
	assert.Contains(t, logs.String(), "write failed")

	s.completeErr, key = nil, "k2" // k1 stays in progress until its lease ends
	require.Equal(t, http.StatusOK, send().Code)
	s.outcome = []byte("h\x00")
	w = send()
	assert.Equal(t, http.StatusInternalServerError, w.Code, "an unreadable stored response is not replayed")
	assert.Contains(t, logs.String(), "unreadable")
}

func TestMiddlewareFinishesAClaimedRequestWhenTheClientLeaves(t *testing.T) {
	s := &faultyStore{Store: idempotency.NewMemoryStore()}
	mcfg := idempotency.DefaultMiddlewareConfig()
	mcfg.Keeper = keeperOn(t, s, nil)
	m, err := idempotency.NewMiddleware(mcfg)
	require.NoError(t, err)
	runs := 0
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { runs++; _, _ = w.Write([]byte("done")) }))
	ctx, cancel := context.WithCancel(context.Background())
	s.afterClaim = cancel // the client hangs up right after the key was claimed
	r := httptest.NewRequest("POST", "/", strings.NewReader("1")).WithContext(ctx)
	r.Header.Set(idempotency.KeyHeader, "k")
	h.ServeHTTP(httptest.NewRecorder(), r)
	s.afterClaim = nil
	r = httptest.NewRequest("POST", "/", strings.NewReader("1"))
	r.Header.Set(idempotency.KeyHeader, "k")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, "true", w.Header().Get(idempotency.ReplayedHeader), "the claimed request ran and was stored, not left in progress")
	assert.Equal(t, 1, runs)
}
