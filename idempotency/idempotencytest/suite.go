// Package idempotencytest is the conformance suite of idempotency stores.
// Every Store (memory, PostgreSQL, SQLite, Redis) runs it, so a behaviour
// is specified once and holds for all of them:
//
//	func TestConformance(t *testing.T) {
//		idempotencytest.Run(t, func(t *testing.T) idempotencytest.Harness {
//			return idempotencytest.Harness{Store: newStore(t)}
//		})
//	}
//
// It also holds the fault tests the stores share: 1,000 concurrent
// duplicate requests and races of claims on expired keys (both in Run),
// and a holder killed mid-request (RunKilledHolder); and the suite of the
// SQL adapters' transactional inboxes (RunInbox, with a consumer killed
// mid-transaction in RunKilledInboxConsumer):
//
//	func TestKilledHolder(t *testing.T) {
//		idempotencytest.RunKilledHolder(t, func(t *testing.T) idempotencytest.KilledHolderHarness {
//			s := newStore(t)
//			return idempotencytest.KilledHolderHarness{Store: s, Counter: newCounter(t, s), ChildEnv: []string{"MY_DSN=" + dsn}}
//		})
//	}
//
// The suites run from any module. The killed-process suites' children are
// the driver's own test binary, run again; its TestMain adds one line per
// suite: idempotencytest.MainKilledHolder(openHolder) and
// idempotencytest.MainKilledInboxConsumer(openInbox).
package idempotencytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Harness is one store under test and what the suite needs to know of it.
type Harness struct {
	// Store is an empty store of the subtest's own (a fresh schema, table
	// or key prefix). Required.
	Store idempotency.Store

	// ExpiresByItself says that the back end deletes expired records on
	// its own (Redis), so DeleteExpired may report 0 of them.
	ExpiresByItself bool

	// Counter, if set, counts in the store's database; the
	// duplicate-request tests count handler runs with it, so that a run
	// the store failed to prevent is seen even across processes. Nil
	// counts in memory.
	Counter Counter
}

// Counter counts handler runs per key, in the database under test.
type Counter interface {
	Incr(ctx context.Context, key string) error
	Get(ctx context.Context, key string) (int, error)
}

// Run runs the conformance suite. newHarness is called once per subtest
// (several times in some) and must return a harness over an empty store of
// its own.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	h := func(t *testing.T) Harness {
		t.Helper()
		h := newHarness(t)
		require.NotNil(t, h.Store, "Harness.Store")
		return h
	}
	newStore := func(t *testing.T) idempotency.Store { return h(t).Store }
	t.Run("ClaimNewKey", func(t *testing.T) { testClaimNewKey(t, newStore(t)) })
	t.Run("DuplicateWhileInProgress", func(t *testing.T) { testDuplicateInProgress(t, newStore(t)) })
	t.Run("CompleteAndReplay", func(t *testing.T) { testCompleteAndReplay(t, newStore(t)) })
	t.Run("OutcomeBytesSurvive", func(t *testing.T) { testOutcomeBytes(t, newStore(t)) })
	t.Run("FingerprintMismatchChangesNothing", func(t *testing.T) { testMismatch(t, newStore(t)) })
	t.Run("ScopesAreSeparate", func(t *testing.T) { testScopes(t, newStore(t)) })
	t.Run("ReleaseLetsTheNextClaimRun", func(t *testing.T) { testRelease(t, newStore(t)) })
	t.Run("WrongTokenIsLeaseLost", func(t *testing.T) { testWrongToken(t, newStore(t)) })
	t.Run("ExpiredLeaseIsTakenOver", func(t *testing.T) { testTakeover(t, newStore(t)) })
	t.Run("CheckpointExtendsTheLease", func(t *testing.T) { testCheckpoint(t, newStore(t)) })
	t.Run("CompletedRecordExpires", func(t *testing.T) { testExpiry(t, newStore(t)) })
	t.Run("DeleteExpired", func(t *testing.T) { testDeleteExpired(t, h(t)) })
	t.Run("ConcurrentClaimsHaveOneWinner", func(t *testing.T) { testConcurrentClaims(t, newStore(t)) })
	t.Run("ReclaimRacesHaveOneWinner", func(t *testing.T) { testReclaimRace(t, newStore(t)) })
	t.Run("MatchesModel", func(t *testing.T) { testModel(t, h(t)) })
	t.Run("Keeper", func(t *testing.T) { runKeeper(t, newStore) })
	t.Run("KeeperReusesAnExpiredKeyConcurrently", func(t *testing.T) { testKeeperReusesExpiredKey(t, newStore(t)) })
	t.Run("DuplicateRequests", func(t *testing.T) { testDuplicateRequests(t, h(t), 10, 100) })
}

// t0 is a whole-millisecond time, as the Keeper passes to stores.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// RandomName returns a random lower-case name with the given prefix, for
// keys, prefixes and schemas of one test.
func RandomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func claim(ref idempotency.Ref, fp string, token int64, now time.Duration) idempotency.Claim {
	return idempotency.Claim{
		Ref: ref, Fingerprint: []byte(fp), Token: token, Now: at(now),
		LeaseUntil: at(now + time.Second), ExpiresAt: at(now + time.Hour),
	}
}

func mustClaim(t *testing.T, s idempotency.Store, c idempotency.Claim) idempotency.Record {
	t.Helper()
	rec, err := s.Claim(context.Background(), c)
	require.NoError(t, err)
	return rec
}

var ctx = context.Background()

func testClaimNewKey(t *testing.T, s idempotency.Store) {
	ref := idempotency.Ref{Scope: "tenant-1", Key: "k1"}
	rec := mustClaim(t, s, claim(ref, "fp", 7, 0))
	assert.Equal(t, idempotency.Claimed, rec.State)
	assert.Equal(t, 1, rec.Attempt)
	assert.Equal(t, []byte("fp"), rec.Fingerprint)
	assert.Equal(t, int64(7), rec.Token)
	assert.Empty(t, rec.RecoveryPoint)
	assert.Empty(t, rec.Outcome)
	assert.True(t, rec.LeaseUntil.Equal(at(time.Second)), "LeaseUntil %v", rec.LeaseUntil)
	assert.True(t, rec.ExpiresAt.Equal(at(time.Hour)), "ExpiresAt %v", rec.ExpiresAt)
}

func testDuplicateInProgress(t *testing.T, s idempotency.Store) {
	ref := idempotency.Ref{Scope: "s", Key: "k"}
	mustClaim(t, s, claim(ref, "fp", 1, 0))
	rec := mustClaim(t, s, claim(ref, "fp", 2, 999*time.Millisecond))
	assert.Equal(t, idempotency.InProgress, rec.State)
	assert.Equal(t, int64(1), rec.Token, "the holder keeps the key")
	assert.Equal(t, 1, rec.Attempt)
	assert.Equal(t, []byte("fp"), rec.Fingerprint)
	assert.True(t, rec.LeaseUntil.Equal(at(time.Second)), "LeaseUntil %v", rec.LeaseUntil)
	// The duplicate's token holds nothing.
	assert.ErrorIs(t, s.Complete(ctx, ref, 2, []byte("x"), at(time.Hour)), idempotency.ErrLeaseLost)
}

func testCompleteAndReplay(t *testing.T, s idempotency.Store) {
	ref := idempotency.Ref{Scope: "s", Key: "k"}
	mustClaim(t, s, claim(ref, "fp", 1, 0))
	require.NoError(t, s.Complete(ctx, ref, 1, []byte("outcome"), at(2*time.Hour)))
	// Long after the lease, before the expiry: still the stored outcome.
	rec := mustClaim(t, s, claim(ref, "fp", 2, 90*time.Minute))
	assert.Equal(t, idempotency.Completed, rec.State)
	assert.Equal(t, []byte("outcome"), rec.Outcome)
	assert.Equal(t, []byte("fp"), rec.Fingerprint)
	assert.True(t, rec.ExpiresAt.Equal(at(2*time.Hour)), "ExpiresAt %v", rec.ExpiresAt)
	// A completed record is no longer held by anyone.
	assert.ErrorIs(t, s.Complete(ctx, ref, 1, []byte("again"), at(time.Hour)), idempotency.ErrLeaseLost)
	assert.ErrorIs(t, s.Release(ctx, ref, 1), idempotency.ErrLeaseLost)
	assert.ErrorIs(t, s.Checkpoint(ctx, ref, 1, []byte("p"), at(time.Hour)), idempotency.ErrLeaseLost)
	rec = mustClaim(t, s, claim(ref, "fp", 3, time.Minute))
	assert.Equal(t, []byte("outcome"), rec.Outcome, "the first outcome stands")
}

func testOutcomeBytes(t *testing.T, s idempotency.Store) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	for name, outcome := range map[string][]byte{"every byte": all, "256KiB": big, "empty": {}} {
		t.Run(name, func(t *testing.T) {
			ref := idempotency.Ref{Scope: "s", Key: name}
			c := claim(ref, "fp", 1, 0)
			c.Fingerprint = all // a binary fingerprint survives too
			mustClaim(t, s, c)
			require.NoError(t, s.Complete(ctx, ref, 1, outcome, at(time.Hour)))
			c.Token = 2
			rec := mustClaim(t, s, c)
			require.Equal(t, idempotency.Completed, rec.State)
			assert.Equal(t, all, rec.Fingerprint)
			assert.True(t, bytes.Equal(outcome, rec.Outcome), "outcome of %d bytes came back as %d bytes", len(outcome), len(rec.Outcome))
		})
	}
}

func testMismatch(t *testing.T, s idempotency.Store) {
	ref := idempotency.Ref{Scope: "s", Key: "k"}
	mustClaim(t, s, claim(ref, "fp-a", 1, 0))
	// In progress, live lease.
	rec := mustClaim(t, s, claim(ref, "fp-b", 2, 0))
	assert.Equal(t, idempotency.InProgress, rec.State)
	assert.Equal(t, []byte("fp-a"), rec.Fingerprint)
	// In progress, lease over: another request may not take it over.
	rec = mustClaim(t, s, claim(ref, "fp-b", 3, 10*time.Second))
	assert.Equal(t, idempotency.InProgress, rec.State)
	assert.Equal(t, []byte("fp-a"), rec.Fingerprint)
	assert.Equal(t, int64(1), rec.Token)
	// The holder still completes, and the mismatching request sees the fingerprint.
	require.NoError(t, s.Complete(ctx, ref, 1, []byte("a"), at(time.Hour)))
	rec = mustClaim(t, s, claim(ref, "fp-b", 4, 20*time.Second))
	assert.Equal(t, idempotency.Completed, rec.State)
	assert.Equal(t, []byte("fp-a"), rec.Fingerprint)
}

func testScopes(t *testing.T, s idempotency.Store) {
	// Separators in scopes and keys must not make two refs one.
	refs := []idempotency.Ref{
		{Scope: "a", Key: "b:c"}, {Scope: "a:b", Key: "c"}, {Scope: "", Key: "a:b:c"},
		{Scope: "a", Key: "b\x00c"}, {Scope: "a\x00b", Key: "c"}, {Scope: "ünï", Key: "ключ"},
		{Scope: "a", Key: strings.Repeat("k", 255)},
	}
	for i, ref := range refs {
		rec := mustClaim(t, s, claim(ref, "fp", int64(i+1), 0))
		require.Equal(t, idempotency.Claimed, rec.State, "ref %q/%q met another ref's record", ref.Scope, ref.Key)
		require.NoError(t, s.Complete(ctx, ref, int64(i+1), []byte(fmt.Sprint(i)), at(time.Hour)))
	}
	for i, ref := range refs {
		rec := mustClaim(t, s, claim(ref, "fp", 100, time.Minute))
		assert.Equal(t, []byte(fmt.Sprint(i)), rec.Outcome, "ref %q/%q", ref.Scope, ref.Key)
	}
}

func testRelease(t *testing.T, s idempotency.Store) {
	ref := idempotency.Ref{Scope: "s", Key: "k"}
	mustClaim(t, s, claim(ref, "fp-a", 1, 0))
	require.NoError(t, s.Release(ctx, ref, 1))
	assert.ErrorIs(t, s.Release(ctx, ref, 1), idempotency.ErrLeaseLost)
	// The key is free, even for another fingerprint, and starts over.
	rec := mustClaim(t, s, claim(ref, "fp-b", 2, time.Millisecond))
	assert.Equal(t, idempotency.Claimed, rec.State)
	assert.Equal(t, 1, rec.Attempt)
	assert.Equal(t, []byte("fp-b"), rec.Fingerprint)
}

func testWrongToken(t *testing.T, s idempotency.Store) {
	ref := idempotency.Ref{Scope: "s", Key: "k"}
	assert.ErrorIs(t, s.Complete(ctx, ref, 1, nil, at(time.Hour)), idempotency.ErrLeaseLost, "no record")
	assert.ErrorIs(t, s.Release(ctx, ref, 1), idempotency.ErrLeaseLost, "no record")
	assert.ErrorIs(t, s.Checkpoint(ctx, ref, 1, nil, at(time.Hour)), idempotency.ErrLeaseLost, "no record")
	mustClaim(t, s, claim(ref, "fp", 1, 0))
	assert.ErrorIs(t, s.Complete(ctx, ref, 2, nil, at(time.Hour)), idempotency.ErrLeaseLost)
	assert.ErrorIs(t, s.Release(ctx, ref, 2), idempotency.ErrLeaseLost)
	assert.ErrorIs(t, s.Checkpoint(ctx, ref, 2, nil, at(time.Hour)), idempotency.ErrLeaseLost)
	rec := mustClaim(t, s, claim(ref, "fp", 3, 0))
	assert.Equal(t, idempotency.InProgress, rec.State, "failed calls changed nothing")
	assert.Equal(t, int64(1), rec.Token)
}

func testTakeover(t *testing.T, s idempotency.Store) {
	ref := idempotency.Ref{Scope: "s", Key: "k"}
	mustClaim(t, s, claim(ref, "fp", 1, 0))
	require.NoError(t, s.Checkpoint(ctx, ref, 1, []byte("charged"), at(time.Second)))
	// The lease ends at exactly 1s: a claim then takes the key over.
	rec := mustClaim(t, s, claim(ref, "fp", 2, time.Second))
	assert.Equal(t, idempotency.Claimed, rec.State)
	assert.Equal(t, 2, rec.Attempt)
	assert.Equal(t, int64(2), rec.Token)
	assert.Equal(t, []byte("charged"), rec.RecoveryPoint, "the recovery point survives the takeover")
	assert.True(t, rec.LeaseUntil.Equal(at(2*time.Second)), "LeaseUntil %v", rec.LeaseUntil)
	// The old holder is fenced off.
	assert.ErrorIs(t, s.Complete(ctx, ref, 1, []byte("old"), at(time.Hour)), idempotency.ErrLeaseLost)
	assert.ErrorIs(t, s.Checkpoint(ctx, ref, 1, nil, at(time.Hour)), idempotency.ErrLeaseLost)
	assert.ErrorIs(t, s.Release(ctx, ref, 1), idempotency.ErrLeaseLost)
	// A third takeover counts on.
	rec = mustClaim(t, s, claim(ref, "fp", 3, 5*time.Second))
	assert.Equal(t, 3, rec.Attempt)
	require.NoError(t, s.Complete(ctx, ref, 3, []byte("new"), at(time.Hour)))
	rec = mustClaim(t, s, claim(ref, "fp", 4, 6*time.Second))
	assert.Equal(t, idempotency.Completed, rec.State)
	assert.Equal(t, []byte("new"), rec.Outcome)
}

func testCheckpoint(t *testing.T, s idempotency.Store) {
	ref := idempotency.Ref{Scope: "s", Key: "k"}
	mustClaim(t, s, claim(ref, "fp", 1, 0))
	require.NoError(t, s.Checkpoint(ctx, ref, 1, []byte("step-1"), at(1500*time.Millisecond)))
	rec := mustClaim(t, s, claim(ref, "fp", 2, 1200*time.Millisecond))
	assert.Equal(t, idempotency.InProgress, rec.State, "the checkpoint extended the lease")
	assert.Equal(t, []byte("step-1"), rec.RecoveryPoint)
	assert.True(t, rec.LeaseUntil.Equal(at(1500*time.Millisecond)), "LeaseUntil %v", rec.LeaseUntil)
	require.NoError(t, s.Checkpoint(ctx, ref, 1, []byte("step-2"), at(3*time.Hour)))
	rec = mustClaim(t, s, claim(ref, "fp", 2, 2*time.Hour))
	assert.Equal(t, idempotency.InProgress, rec.State, "a lease past the expiry extends the expiry")
	assert.Equal(t, []byte("step-2"), rec.RecoveryPoint)
}

func testExpiry(t *testing.T, s idempotency.Store) {
	ref := idempotency.Ref{Scope: "s", Key: "k"}
	mustClaim(t, s, claim(ref, "fp-a", 1, 0))
	require.NoError(t, s.Checkpoint(ctx, ref, 1, []byte("p"), at(time.Second)))
	require.NoError(t, s.Complete(ctx, ref, 1, []byte("a"), at(time.Hour)))
	rec := mustClaim(t, s, claim(ref, "fp-b", 2, time.Hour-time.Millisecond))
	assert.Equal(t, idempotency.Completed, rec.State)
	// At the expiry the key is new: any fingerprint, attempt 1, nothing kept.
	rec = mustClaim(t, s, claim(ref, "fp-b", 3, time.Hour))
	assert.Equal(t, idempotency.Claimed, rec.State)
	assert.Equal(t, 1, rec.Attempt)
	assert.Equal(t, []byte("fp-b"), rec.Fingerprint)
	assert.Empty(t, rec.Outcome)
	assert.Empty(t, rec.RecoveryPoint)

	// An abandoned claim expires too (its lease is long over by then).
	ref2 := idempotency.Ref{Scope: "s", Key: "abandoned"}
	mustClaim(t, s, claim(ref2, "fp-a", 1, 0))
	rec = mustClaim(t, s, claim(ref2, "fp-b", 2, time.Hour))
	assert.Equal(t, idempotency.Claimed, rec.State)
	assert.Equal(t, 1, rec.Attempt)
}

func testDeleteExpired(t *testing.T, h Harness) {
	s := h.Store
	for i := range 5 {
		ref := idempotency.Ref{Scope: "s", Key: fmt.Sprint("expired-", i)}
		mustClaim(t, s, claim(ref, "fp", 1, 0))
		require.NoError(t, s.Complete(ctx, ref, 1, []byte("x"), at(time.Minute)))
	}
	live := idempotency.Ref{Scope: "s", Key: "live"}
	mustClaim(t, s, claim(live, "fp", 1, 0))
	require.NoError(t, s.Complete(ctx, live, 1, []byte("live"), at(time.Hour)))
	inFlight := idempotency.Ref{Scope: "s", Key: "in-flight"}
	mustClaim(t, s, claim(inFlight, "fp", 1, 0))

	n1, err := s.DeleteExpired(ctx, at(time.Minute), 3)
	require.NoError(t, err)
	assert.LessOrEqual(t, n1, 3, "limit")
	n2, err := s.DeleteExpired(ctx, at(time.Minute), 100)
	require.NoError(t, err)
	if h.ExpiresByItself {
		assert.LessOrEqual(t, n1+n2, 5)
	} else {
		assert.Equal(t, 3, n1)
		assert.Equal(t, 5, n1+n2)
	}
	n3, err := s.DeleteExpired(ctx, at(time.Minute), 100)
	require.NoError(t, err)
	assert.Zero(t, n3, "nothing left to delete")

	rec := mustClaim(t, s, claim(live, "fp", 2, time.Minute))
	assert.Equal(t, idempotency.Completed, rec.State, "live records stay")
	assert.Equal(t, []byte("live"), rec.Outcome)
	rec = mustClaim(t, s, claim(inFlight, "fp", 2, 500*time.Millisecond))
	assert.Equal(t, idempotency.InProgress, rec.State, "claims in flight stay")
	for i := range 5 {
		rec := mustClaim(t, s, claim(idempotency.Ref{Scope: "s", Key: fmt.Sprint("expired-", i)}, "other", 2, time.Minute))
		assert.Equal(t, idempotency.Claimed, rec.State)
	}
}

func testConcurrentClaims(t *testing.T, s idempotency.Store) {
	const goroutines, keys = 40, 4
	var claimed [keys]atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := idempotency.Ref{Scope: "s", Key: fmt.Sprint(g % keys)}
			rec, err := s.Claim(ctx, claim(ref, "fp", int64(g+1), 0))
			if err != nil {
				errs <- err
				return
			}
			switch rec.State {
			case idempotency.Claimed:
				claimed[g%keys].Add(1)
			case idempotency.InProgress:
			default:
				errs <- fmt.Errorf("state %v", rec.State)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range claimed {
		assert.Equal(t, int32(1), claimed[i].Load(), "key %d claimed by", i)
	}
}
