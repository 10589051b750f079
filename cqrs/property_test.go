package cqrs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/require"
)

// TestPropertyExactlyOnce drives a projector through random batch sizes,
// handler failures, checkpoint-store failures (some after the commit, so
// the projector cannot know the outcome), rebuilds and appends while it
// runs, and checks that each read model ends up with every event exactly
// once, in order. The seed of a failing run is printed.
func TestPropertyExactlyOnce(t *testing.T) {
	leakcheck.Check(t)
	for range 8 {
		seed := rand.Uint64()
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { exactlyOnceRun(t, seed) })
	}
}

func exactlyOnceRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := newTxStore()
	store.rng, store.failRate = rand.New(rand.NewPCG(seed, 1)), 0.1
	events := eventsource.NewMemoryStore()

	var fmu sync.Mutex
	flaky := rand.New(rand.NewPCG(seed, 2))
	projection := func(name string, types ...string) cqrs.Projection[*memTx] {
		return cqrs.Projection[*memTx]{
			Name:  name,
			Types: types,
			Handle: func(ctx context.Context, tx *memTx, e eventsource.Event) error {
				fmu.Lock()
				fail := flaky.Float64() < 0.1
				fmu.Unlock()
				if fail {
					return errors.New("transient handler failure")
				}
				return store.record(ctx, tx, name, e.GlobalPosition)
			},
			Reset: func(ctx context.Context, tx *memTx) error { return store.clear(ctx, tx, name) },
		}
	}
	p, err := cqrs.New(events, store, []cqrs.Projection[*memTx]{projection("all"), projection("odd", "odd")}, cqrs.Config{
		BatchSize:   1 + rng.IntN(20),
		MaxAttempts: 1000, // transient failures never park
		Backoff:     retry.Exponential{Initial: time.Microsecond, Jitter: retry.FullJitter}, MaxDelay: 50 * time.Microsecond,
		PollInterval: time.Hour, LeaseDuration: time.Hour, WaitPollInterval: time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- p.Run(runCtx) }()

	var odd []int64
	last := int64(0)
	for round := range 4 + rng.IntN(4) {
		for range 10 + rng.IntN(60) {
			typ := "even"
			if rng.IntN(2) == 1 {
				typ = "odd"
			}
			res, err := events.Append(ctx, fmt.Sprint("s", rng.IntN(7)), eventsource.Any, eventsourcetest.NewEvent(typ, `{}`))
			require.NoError(t, err)
			last = res.GlobalPosition
			if typ == "odd" {
				odd = append(odd, last)
			}
		}
		if rng.IntN(3) == 0 {
			name := []string{"all", "odd"}[rng.IntN(2)]
			for p.Rebuild(ctx, name) != nil { // an injected failure: ask again
				require.NoError(t, ctx.Err(), "round %d: rebuilding", round)
			}
		}
	}
	for _, name := range []string{"all", "odd"} {
		for {
			_, err := p.WaitFor(ctx, name, last)
			if err == nil {
				break
			}
			require.ErrorIs(t, err, errInjected, "waiting for %s", name)
		}
	}
	stop()
	require.ErrorIs(t, <-done, context.Canceled)

	all := make([]int64, last)
	for i := range all {
		all[i] = int64(i + 1)
	}
	require.Equal(t, all, store.recorded("all"), "every event once, in order")
	require.Equal(t, odd, store.recorded("odd"), "every event of the projection's types once, in order")
}
