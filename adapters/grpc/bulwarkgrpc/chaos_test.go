package bulwarkgrpc_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/grpc/bulwarkgrpc"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The chaos test's server misbehaves at these rates, drawn per call from a
// seeded generator: it fails (UNAVAILABLE), sheds (RESOURCE_EXHAUSTED with
// a 2ms pushback) or stalls (answers after chaosStall, or when the call is
// cancelled); otherwise it answers at once.
const (
	chaosFail  = 0.10
	chaosShed  = 0.05
	chaosStall = 0.05
	stallFor   = 600 * time.Millisecond
	chaosCalls = 600
	chaosConc  = 6
)

// The bounds the package doc states for the chaos test: with a retry (3
// attempts of at most 100ms each, a budget of 30% of calls), a breaker and
// up to two hedges 25ms apart, at most 2% of calls fail and the 99th percentile latency stays
// under 200ms, where the same server without policies fails about 15% of
// calls and its p99 is the 600ms stall.
const (
	maxErrorRate = 0.02
	maxP99       = 200 * time.Millisecond
)

func chaosService(seed uint64) *service {
	return &service{unary: func(ctx context.Context, _ *simpleReq, n int) (*simpleResp, error) {
		r := rand.New(rand.NewPCG(seed, uint64(n))).Float64()
		switch {
		case r < chaosFail:
			return nil, status.Error(codes.Unavailable, "chaos: failing")
		case r < chaosFail+chaosShed:
			_ = grpc.SetTrailer(ctx, metadata.Pairs(bulwarkgrpc.MetadataPushback, "2"))
			return nil, status.Error(codes.ResourceExhausted, "chaos: shedding")
		case r < chaosFail+chaosShed+chaosStall:
			select {
			case <-ctx.Done():
				return nil, status.FromContextError(ctx.Err()).Err()
			case <-time.After(stallFor):
			}
		}
		return &simpleResp{Username: "ok"}, nil
	}}
}

// runChaos makes chaosCalls calls from chaosConc goroutines and returns
// the error rate and the 99th percentile latency.
func runChaos(t *testing.T, c interface {
	UnaryCall(context.Context, *simpleReq, ...grpc.CallOption) (*simpleResp, error)
}) (errRate float64, p99 time.Duration) {
	t.Helper()
	var (
		next      atomic.Int32
		failures  atomic.Int32
		mu        sync.Mutex
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	for range chaosConc {
		wg.Go(func() {
			for next.Add(1) <= chaosCalls {
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := c.UnaryCall(ctx, &simpleReq{})
				cancel()
				d := time.Since(start)
				if err != nil {
					failures.Add(1)
				}
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(latencies)
	return float64(failures.Load()) / chaosCalls, latencies[len(latencies)*99/100]
}

func chaosPolicy(t *testing.T) (bulwark.Policy, *circuitbreaker.Breaker) {
	t.Helper()
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	r, err := retry.New(retry.Config{MaxAttempts: 3, AttemptTimeout: 100 * time.Millisecond, Backoff: retry.Constant{Delay: 2 * time.Millisecond}, Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	b, err := circuitbreaker.New(circuitbreaker.Config{OpenWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h, err := hedge.New(hedge.Config{Delay: 25 * time.Millisecond, MaxHedges: 2, Percentile: hedge.NoPercentile})
	if err != nil {
		t.Fatal(err)
	}
	return bulwark.Chain(r, b, h), b
}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: runs without -short")
	}
	const seed = 42
	t.Run("without policies", func(t *testing.T) {
		c := plainClient(t, false, chaosService(seed))
		errRate, p99 := runChaos(t, c)
		t.Logf("without policies: error rate %.1f%%, p99 %v", errRate*100, p99)
		if errRate < 0.10 || p99 < stallFor {
			t.Fatalf("the chaos is too mild to prove anything: error rate %.1f%%, p99 %v", errRate*100, p99)
		}
	})
	t.Run("with retry, breaker and hedge", func(t *testing.T) {
		p, b := chaosPolicy(t)
		svc := chaosService(seed)
		c := unaryClient(t, false, svc, p, idempotentUnary)
		errRate, p99 := runChaos(t, c)
		t.Logf("with policies: error rate %.2f%%, p99 %v, %d server calls for %d calls, breaker %v", errRate*100, p99, svc.calls.Load(), chaosCalls, b.State())
		if errRate > maxErrorRate || p99 > maxP99 {
			t.Fatalf("error rate %.2f%% (bound %.0f%%), p99 %v (bound %v)", errRate*100, maxErrorRate*100, p99, maxP99)
		}
		if b.State() != circuitbreaker.StateClosed {
			t.Fatalf("the breaker tripped on a 15%% failure rate: %v", b.State())
		}
	})
	t.Run("server down: breaker and budget bound the load", func(t *testing.T) {
		p, b := chaosPolicy(t)
		svc := &service{unary: failing(codes.Unavailable, 1<<30)}
		c := unaryClient(t, false, svc, p, idempotentUnary)
		for range 200 {
			_, _ = c.UnaryCall(context.Background(), &simpleReq{})
		}
		// The breaker opens once its window holds 20 calls at >= 50%
		// failures; until then each call makes at most 3 attempts.
		if b.State() != circuitbreaker.StateOpen || svc.calls.Load() > 60 {
			t.Fatalf("breaker %v after %d server calls for 200 calls; want open after at most 60", b.State(), svc.calls.Load())
		}
	})
}
