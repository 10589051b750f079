package idempotencytest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/stretchr/testify/require"
)

// modelRecord is the reference semantics of one record, written from the
// Store documentation and nothing else.
type modelRecord struct {
	completed     bool
	fingerprint   string
	token         int64
	attempt       int
	outcome       string
	recoveryPoint string
	leaseUntil    time.Time
	expiresAt     time.Time
}

type model map[idempotency.Ref]*modelRecord

func (m model) claim(c idempotency.Claim) idempotency.Record {
	r, ok := m[c.Ref]
	switch {
	case !ok || !r.expiresAt.After(c.Now):
		r = &modelRecord{fingerprint: string(c.Fingerprint), attempt: 1}
		m[c.Ref] = r
	case !r.completed && !r.leaseUntil.After(c.Now) && r.fingerprint == string(c.Fingerprint):
		r.attempt++
	default:
		return r.record()
	}
	r.token, r.leaseUntil, r.expiresAt = c.Token, c.LeaseUntil, c.ExpiresAt
	rec := r.record()
	rec.State = idempotency.Claimed
	return rec
}

func (r *modelRecord) record() idempotency.Record {
	rec := idempotency.Record{
		State: idempotency.InProgress, Fingerprint: []byte(r.fingerprint), Token: r.token, Attempt: r.attempt,
		Outcome: []byte(r.outcome), RecoveryPoint: []byte(r.recoveryPoint), LeaseUntil: r.leaseUntil, ExpiresAt: r.expiresAt,
	}
	if r.completed {
		rec.State = idempotency.Completed
	}
	return rec
}

func (m model) held(ref idempotency.Ref, token int64) *modelRecord {
	if r, ok := m[ref]; ok && !r.completed && r.token == token {
		return r
	}
	return nil
}

// testModel runs random operations against the store and the model and
// requires the same answers. The seed is printed on failure; replaySeed,
// when not 0, replays one.
func testModel(t *testing.T, h Harness) {
	s := h.Store
	seed := replaySeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	defer func() {
		if t.Failed() {
			t.Logf("seed %d (set replaySeed to it to replay this sequence)", seed)
		}
	}()
	rng := rand.New(rand.NewPCG(seed, seed))
	m := model{}
	now := t0
	var tokens []int64
	refs := []idempotency.Ref{{Scope: "a", Key: "1"}, {Scope: "a", Key: "2"}, {Scope: "b", Key: "1"}}
	fps := []string{"x", "y"}
	const steps = 250
	for step := range steps {
		ref := refs[rng.IntN(len(refs))]
		token := int64(0)
		if len(tokens) > 0 {
			token = tokens[rng.IntN(len(tokens))]
		}
		where := fmt.Sprintf("step %d", step)
		switch op := rng.IntN(10); {
		case op < 4:
			tok := int64(step + 1)
			tokens = append(tokens, tok)
			c := idempotency.Claim{
				Ref: ref, Fingerprint: []byte(fps[rng.IntN(len(fps))]), Token: tok, Now: now,
				LeaseUntil: now.Add(time.Duration(1+rng.IntN(1000)) * time.Millisecond),
			}
			c.ExpiresAt = c.LeaseUntil.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			got, err := s.Claim(ctx, c)
			require.NoError(t, err, where)
			want := m.claim(c)
			requireSameRecord(t, want, got, where+" claim")
		case op < 6:
			outcome := fmt.Sprint("outcome-", step)
			exp := now.Add(time.Duration(1+rng.IntN(3000)) * time.Millisecond)
			err := s.Complete(ctx, ref, token, []byte(outcome), exp)
			if r := m.held(ref, token); r != nil {
				require.NoError(t, err, where+" complete")
				r.completed, r.outcome, r.expiresAt = true, outcome, exp
			} else {
				require.ErrorIs(t, err, idempotency.ErrLeaseLost, where+" complete")
			}
		case op < 7:
			err := s.Release(ctx, ref, token)
			if r := m.held(ref, token); r != nil {
				require.NoError(t, err, where+" release")
				delete(m, ref)
			} else {
				require.ErrorIs(t, err, idempotency.ErrLeaseLost, where+" release")
			}
		case op < 8:
			point := fmt.Sprint("point-", step)
			lease := now.Add(time.Duration(1+rng.IntN(1000)) * time.Millisecond)
			err := s.Checkpoint(ctx, ref, token, []byte(point), lease)
			if r := m.held(ref, token); r != nil {
				require.NoError(t, err, where+" checkpoint")
				r.recoveryPoint, r.leaseUntil = point, lease
				if r.expiresAt.Before(lease) {
					r.expiresAt = lease
				}
			} else {
				require.ErrorIs(t, err, idempotency.ErrLeaseLost, where+" checkpoint")
			}
		case op < 9:
			_, err := s.DeleteExpired(ctx, now, 100)
			require.NoError(t, err, where)
			if h.ExpiresByItself {
				// The back end deletes a record when its ExpiresAt comes
				// by its own clock, and the model's times (in 2030) never
				// come during the test: the records stay, as in the store.
				// Claims still treat them as expired by their Now.
				continue
			}
			for ref, r := range m {
				if !r.expiresAt.After(now) {
					delete(m, ref)
				}
			}
		default:
			now = now.Add(time.Duration(rng.IntN(800)) * time.Millisecond)
		}
	}
}

// replaySeed replays the operations of a failed run of testModel when set
// to the seed it printed.
const replaySeed uint64 = 0

func requireSameRecord(t *testing.T, want, got idempotency.Record, where string) {
	t.Helper()
	require.Equal(t, want.State, got.State, where+": state")
	require.Equal(t, want.Attempt, got.Attempt, where+": attempt")
	require.True(t, bytes.Equal(want.Fingerprint, got.Fingerprint), where+": fingerprint %q, want %q", got.Fingerprint, want.Fingerprint)
	require.True(t, bytes.Equal(want.RecoveryPoint, got.RecoveryPoint), where+": recovery point %q, want %q", got.RecoveryPoint, want.RecoveryPoint)
	if want.State != idempotency.Completed {
		require.Equal(t, want.Token, got.Token, where+": token")
		require.True(t, want.LeaseUntil.Equal(got.LeaseUntil), where+": lease until %v, want %v", got.LeaseUntil, want.LeaseUntil)
	} else {
		require.True(t, bytes.Equal(want.Outcome, got.Outcome), where+": outcome %q, want %q", got.Outcome, want.Outcome)
	}
	require.True(t, want.ExpiresAt.Equal(got.ExpiresAt), where+": expires at %v, want %v", got.ExpiresAt, want.ExpiresAt)
}
