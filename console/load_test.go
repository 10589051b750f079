package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/policyset"
	"github.com/stretchr/testify/require"
)

// The two settings the operator switches between while calls run.
var loadSpecs = [2]string{
	`{"rate_limit": {"limit": 2000, "burst": 200}, "bulkhead": {"max_concurrent": 4, "max_waiting": 1000}, "timeout": {"timeout": "1s"}}`,
	`{"rate_limit": {"limit": 3000, "burst": 300}, "bulkhead": {"max_concurrent": 8, "max_waiting": 1000}, "timeout": {"timeout": "2s"}}`,
}

// TestReconfigureUnderLoad sends about 1,000 calls a second through a
// policy while an operator switches its settings through the console
// every 20ms and others read the state: every call ends (passed or
// rejected), none runs with more calls in flight than the larger limit or
// under a timeout of neither version, every state read shows one version
// whole, and afterwards the bulkhead has exactly its limit of permits and
// the limiter exactly its burst of tokens: none lost, none made up.
func TestReconfigureUnderLoad(t *testing.T) {
	s := newSystem(t, nil)
	var specs [2]policyset.Spec
	for i, raw := range loadSpecs {
		doc, err := policyset.Parse([]byte(`{"policies": {"dep": ` + raw + `}}`))
		require.NoError(t, err)
		specs[i] = doc.Policies["dep"]
	}
	status, body := s.post(t, "/api/policies/dep/settings", loadSpecs[0])
	require.Equal(t, http.StatusOK, status, body)
	p, err := s.set.Policy("dep")
	require.NoError(t, err)

	const duration = 2 * time.Second
	ctx, stop := context.WithTimeout(context.Background(), duration)
	defer stop()
	var (
		issued, passed, rejected, failed atomic.Int64
		inFlight, maxInFlight            atomic.Int64
		badDeadline                      atomic.Int64
		calls                            sync.WaitGroup
	)
	call := func() {
		defer calls.Done()
		err := p.Do(context.Background(), func(ctx context.Context) error {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
			}
			dl, ok := ctx.Deadline()
			if left := time.Until(dl); !ok || left > 2*time.Second {
				badDeadline.Add(1)
			}
			time.Sleep(3 * time.Millisecond)
			return nil
		})
		switch {
		case err == nil:
			passed.Add(1)
		case errors.Is(err, bulwark.ErrRejected):
			rejected.Add(1)
		default:
			failed.Add(1)
		}
	}

	var background sync.WaitGroup
	background.Go(func() { // the operator
		for i := 1; ctx.Err() == nil; i++ {
			status, body := s.post(t, "/api/policies/dep/settings", loadSpecs[i%2])
			if status != http.StatusOK {
				t.Errorf("switching settings: %d %s", status, body)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	torn := atomic.Int64{}
	reads := atomic.Int64{}
	background.Go(func() { // someone watching
		for ctx.Err() == nil {
			st := s.state(t)
			got, _ := json.Marshal(st.Policies[0].Settings)
			a, _ := json.Marshal(specs[0])
			b, _ := json.Marshal(specs[1])
			if string(got) != string(a) && string(got) != string(b) {
				torn.Add(1)
			}
			reads.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	})
	tick := time.NewTicker(time.Millisecond)
	for start := time.Now(); ctx.Err() == nil; {
		<-tick.C
		for due := time.Since(start).Milliseconds(); issued.Load() < due; { // a late tick catches up
			issued.Add(1)
			calls.Add(1)
			go call()
		}
	}
	tick.Stop()
	calls.Wait()
	background.Wait()

	t.Logf("%d calls in %v: %d passed, %d rejected, %d failed; at most %d in flight; %d state reads",
		issued.Load(), duration, passed.Load(), rejected.Load(), failed.Load(), maxInFlight.Load(), reads.Load())
	require.GreaterOrEqual(t, issued.Load(), int64(1900), "the load was lighter than 1,000 calls a second")
	require.Equal(t, issued.Load(), passed.Load()+rejected.Load(), "a call failed or was lost")
	require.Zero(t, failed.Load())
	require.LessOrEqual(t, maxInFlight.Load(), int64(8), "more calls in flight than either limit allows")
	require.Zero(t, badDeadline.Load(), "a call ran under a timeout of neither version")
	require.Zero(t, torn.Load(), "a state read showed a mix of two versions")
	require.Positive(t, reads.Load())

	// Settle on the first version and count what is left.
	status, body = s.post(t, "/api/policies/dep/settings", loadSpecs[0])
	require.Equal(t, http.StatusOK, status, body)
	parts := p.Parts()
	require.Zero(t, parts.Bulkhead.InFlight())
	require.Zero(t, parts.Bulkhead.Waiting())
	var permits []func(error)
	for {
		permit, ok := parts.Bulkhead.TryAcquire()
		if !ok {
			break
		}
		permits = append(permits, permit.Release)
	}
	require.Len(t, permits, 4, "the bulkhead lost or made up permits")
	for _, release := range permits {
		release(nil)
	}

	time.Sleep(200 * time.Millisecond) // a full bucket: 200 tokens at 2,000/s take 100ms
	start := time.Now()
	tokens := 0
	for parts.RateLimit.Allow() == nil {
		tokens++
	}
	refilled := int(time.Since(start).Seconds()*2000) + 1
	require.GreaterOrEqual(t, tokens, 200, "the limiter lost tokens")
	require.LessOrEqual(t, tokens, 200+refilled, "the limiter made up tokens")
}
