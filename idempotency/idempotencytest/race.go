package idempotencytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reclaimRounds and reclaimRacers size the re-claim races: each round
// races reclaimRacers claims of one key, and a store that answers from a
// stale snapshot fails some round with near certainty.
const reclaimRounds, reclaimRacers = 8, 12

// testReclaimRace races claims of a key whose record is over: expired after
// completing, expired while in progress, or in progress with its lease
// ended. Exactly one claim wins, and every other one sees the winner's
// record (in progress, with the winner's fingerprint, token and attempt),
// never the old one: an old outcome or fingerprint handed to a loser would
// be replayed, or reported as a mismatch, to a request that should get
// neither.
func testReclaimRace(t *testing.T, s idempotency.Store) {
	for _, tc := range []struct {
		name string
		// setUp writes the old record of ref at time 0.
		setUp func(t *testing.T, ref idempotency.Ref)
		// now is when the racers claim; sameFingerprint says whether they
		// send the old record's fingerprint (a takeover needs it).
		now             time.Duration
		sameFingerprint bool
		attempt         int
	}{
		{"ExpiredCompleted", func(t *testing.T, ref idempotency.Ref) {
			mustClaim(t, s, claim(ref, "old", 1, 0))
			require.NoError(t, s.Complete(ctx, ref, 1, []byte("old outcome"), at(time.Minute)))
		}, time.Minute, false, 1},
		{"ExpiredInProgress", func(t *testing.T, ref idempotency.Ref) {
			c := claim(ref, "old", 1, 0)
			c.ExpiresAt = at(time.Minute)
			mustClaim(t, s, c)
		}, time.Minute, false, 1},
		{"LeaseEnded", func(t *testing.T, ref idempotency.Ref) {
			mustClaim(t, s, claim(ref, "old", 1, 0))
		}, time.Second, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for round := range reclaimRounds {
				ref := idempotency.Ref{Scope: "s", Key: fmt.Sprint(tc.name, "-", round)}
				tc.setUp(t, ref)
				recs := make([]idempotency.Record, reclaimRacers)
				errs := make([]error, reclaimRacers)
				fps := make([][]byte, reclaimRacers)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range reclaimRacers {
					fps[i] = []byte(fmt.Sprint("new-", i))
					if tc.sameFingerprint {
						fps[i] = []byte("old")
					}
					c := claim(ref, string(fps[i]), int64(100+i), tc.now)
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						recs[i], errs[i] = s.Claim(ctx, c)
					}()
				}
				close(start)
				wg.Wait()
				winner := -1
				for i, rec := range recs {
					require.NoError(t, errs[i], "round %d, claim %d", round, i)
					if rec.State == idempotency.Claimed {
						require.Equal(t, -1, winner, "round %d: claims %d and %d both won", round, winner, i)
						winner = i
					}
				}
				require.NotEqual(t, -1, winner, "round %d: no claim won", round)
				assert.Equal(t, tc.attempt, recs[winner].Attempt, "round %d: the winner's attempt", round)
				for i, rec := range recs {
					if i == winner {
						continue
					}
					require.Equal(t, idempotency.InProgress, rec.State,
						"round %d, claim %d: a loser got the %v record (fingerprint %q, outcome %q) instead of the winner's", round, i, rec.State, rec.Fingerprint, rec.Outcome)
					require.True(t, bytes.Equal(fps[winner], rec.Fingerprint),
						"round %d, claim %d: a loser saw fingerprint %q, want the winner's %q", round, i, rec.Fingerprint, fps[winner])
					require.Equal(t, int64(100+winner), rec.Token, "round %d, claim %d: the holder's token", round, i)
					require.Equal(t, tc.attempt, rec.Attempt, "round %d, claim %d: attempt", round, i)
					require.True(t, rec.LeaseUntil.After(at(tc.now)), "round %d, claim %d: the holder's lease %v is over", round, i, rec.LeaseUntil)
				}
			}
		})
	}
}

// testKeeperReusesExpiredKey: retries that reuse an expired key with a new
// request body, concurrently, run the operation once with the new body;
// none is told the key was used with another request (HTTP 422) and none
// gets the expired outcome.
func testKeeperReusesExpiredKey(t *testing.T, s idempotency.Store) {
	fake := clocktest.New(t0)
	keepers := make([]*idempotency.Keeper, reclaimRacers)
	for i := range keepers {
		keepers[i] = newKeeper(t, s, fake, 0)
	}
	for round := range reclaimRounds {
		req := idempotency.Request{Scope: "client", Key: fmt.Sprint("order-", round), Fingerprint: []byte("body-1")}
		_, err := idempotency.Do(ctx, keepers[0], req, func(ctx context.Context) (string, error) { return "old", nil })
		require.NoError(t, err)
		fake.Advance(time.Hour) // the TTL: the key is new again
		req.Fingerprint = []byte("body-2")
		results := make([]string, reclaimRacers)
		errs := make([]error, reclaimRacers)
		var runs atomic.Int32
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, k := range keepers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = idempotency.Do(ctx, k, req, func(ctx context.Context) (string, error) {
					runs.Add(1)
					return "new", nil
				})
			}()
		}
		close(start)
		wg.Wait()
		for i := range keepers {
			switch {
			case errs[i] == nil:
				assert.Equal(t, "new", results[i], "round %d, retry %d: the expired outcome was replayed", round, i)
			case errors.Is(errs[i], idempotency.ErrInProgress):
			default:
				t.Errorf("round %d, retry %d: %v", round, i, errs[i])
			}
		}
		assert.Equal(t, int32(1), runs.Load(), "round %d: the operation ran once with the new body", round)
	}
}
