package bulkhead

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
)

// TestPermitsMatchModel drives permits through random sequences of
// operations — take, return, wait in line, cancel a waiter, let every wait
// run out, change the limit — from one goroutine, and after each compares
// who holds a permit and who waits with a plain model: a counter, a limit and
// a first-come-first-served line. Grants happen synchronously under the
// lock, so the comparison is exact; a waiter left waiting while a permit is
// free (a lost wake-up) or served out of turn shows up as a mismatch or a
// missing grant.
func TestPermitsMatchModel(t *testing.T) {
	const sequences, steps = 200, 150
	seed := uint64(time.Now().UnixNano())
	for i := range sequences {
		runPermitsModel(t, seed+uint64(i), steps)
		if t.Failed() {
			t.Fatalf("failed with seed %d (set it in runPermitsModel's caller to replay)", seed+uint64(i))
		}
	}
}

type modelWaiter struct {
	cancel context.CancelFunc
	result chan error
}

func runPermitsModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	fc := clocktest.New(time.Unix(0, 0))
	const maxWait = time.Hour
	limit, maxWaiting := 1+rng.IntN(4), 1+rng.IntN(4)
	var p permits
	p.init(limit, maxWaiting)

	var (
		inUse int
		line  []*modelWaiter // in the model's order
	)
	// receive waits for w's result; a grant the model expects must arrive.
	receive := func(w *modelWaiter, want error, step int, op string) {
		select {
		case err := <-w.result:
			if !errors.Is(err, want) && !(want == nil && err == nil) {
				t.Errorf("seed %d step %d %s: waiter got %v, want %v", seed, step, op, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("seed %d step %d %s: waiter never got its answer (want %v)", seed, step, op, want)
		}
	}
	grantWhileFree := func(step int, op string) {
		for len(line) > 0 && inUse < limit {
			receive(line[0], nil, step, op)
			line = line[1:]
			inUse++
		}
	}
	for step := range steps {
		var op string
		switch r := rng.IntN(100); {
		case r < 25:
			op = "tryAcquire"
			got := p.tryAcquire()
			want := len(line) == 0 && inUse < limit
			if got != want {
				t.Fatalf("seed %d step %d: tryAcquire = %v, want %v", seed, step, got, want)
			}
			if got {
				inUse++
			}
		case r < 50:
			if inUse == 0 {
				continue
			}
			op = "release"
			p.release()
			if len(line) > 0 && inUse <= limit {
				receive(line[0], nil, step, op)
				line = line[1:]
			} else {
				inUse--
			}
		case r < 75:
			op = "acquire"
			ctx, cancel := context.WithCancel(context.Background())
			w := &modelWaiter{cancel: cancel, result: make(chan error, 1)}
			go func() { w.result <- p.acquire(ctx, fc, maxWait) }()
			switch {
			case len(line) == 0 && inUse < limit:
				receive(w, nil, step, op)
				inUse++
			case len(line) >= maxWaiting:
				receive(w, ErrFull, step, op)
			default:
				line = append(line, w)
				fc.BlockUntil(len(line)) // each waiter waits on a MaxWait timer
			}
		case r < 85:
			if len(line) == 0 {
				continue
			}
			op = "cancel"
			i := rng.IntN(len(line))
			w := line[i]
			w.cancel()
			receive(w, context.Canceled, step, op)
			line = append(line[:i], line[i+1:]...)
		case r < 90:
			if len(line) == 0 {
				continue
			}
			op = "expire"
			fc.Advance(maxWait)
			for _, w := range line {
				receive(w, ErrFull, step, op)
			}
			line = nil
		default:
			op = "setLimit"
			limit = 1 + rng.IntN(5)
			p.setLimit(limit)
			grantWhileFree(step, op)
		}
		if got := p.inUse(); got != inUse {
			t.Fatalf("seed %d step %d after %s: %d permits in use, model has %d", seed, step, op, got, inUse)
		}
		if got := p.waiting(); got != len(line) {
			t.Fatalf("seed %d step %d after %s: %d waiting, model has %d", seed, step, op, got, len(line))
		}
	}
	for _, w := range line {
		w.cancel()
		<-w.result
	}
}
