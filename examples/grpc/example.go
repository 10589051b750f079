package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/grpc/bulwarkgrpc"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const unaryMethod = "/grpc.testing.TestService/UnaryCall"

// phases of the server's dependency
const (
	flaky int32 = iota
	down
	recovered
)

// report is what a run counted.
type report struct {
	ok, failed, rejected int      // client calls by outcome
	served               int64    // calls that reached the server's handler
	serverBreaker        []string // the server breaker's changes
	clientBreaker        []string // the client breaker's changes
	notServing           bool     // health said NOT_SERVING at some point
	replayed             bool     // the repeated charge got the first answer
}

// inventory is the server: its handler calls a dependency through a
// breaker.
type inventory struct {
	testgrpc.UnimplementedTestServiceServer
	phase   atomic.Int32
	breaker *circuitbreaker.Breaker
	served  atomic.Int64
	charges atomic.Int32
}

func (s *inventory) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	s.served.Add(1)
	if string(req.GetPayload().GetBody()) == "charge" {
		n := s.charges.Add(1)
		return &testgrpc.SimpleResponse{Username: fmt.Sprintf("charge #%d", n)}, nil
	}
	err := s.breaker.Do(ctx, func(ctx context.Context) error { return s.dependency(ctx) })
	switch {
	case errors.Is(err, circuitbreaker.ErrOpen):
		return nil, status.Error(codes.Unavailable, "inventory: the warehouse is unreachable")
	case err != nil:
		return nil, status.Error(codes.Unavailable, "inventory: "+err.Error())
	}
	return &testgrpc.SimpleResponse{Username: "in stock"}, nil
}

// dependency is the server's own downstream, whose health follows the phase.
func (s *inventory) dependency(ctx context.Context) error {
	switch s.phase.Load() {
	case down:
		return errors.New("warehouse down")
	case flaky:
		switch r := rand.Float64(); {
		case r < 0.2:
			return errors.New("warehouse hiccup")
		case r < 0.25:
			select { // a stall
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	time.Sleep(2 * time.Millisecond)
	return nil
}

// logf writes one line, safe for concurrent use.
type logger struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%5.1fs  "+format+"\n", append([]any{time.Since(l.start).Seconds()}, args...)...)
}

func run(ctx context.Context, w io.Writer, tl timeline) (*report, error) {
	log := &logger{w: w, start: time.Now()}
	rep := &report{}
	var repMu sync.Mutex
	changes := func(into *[]string, who string) bulwark.Observer {
		return bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if sc, ok := e.(circuitbreaker.StateChange); ok {
				repMu.Lock()
				*into = append(*into, sc.To.String())
				repMu.Unlock()
				log.printf("%s breaker %v -> %v", who, sc.From, sc.To)
			}
		})
	}

	// The server.
	hs := health.NewServer()
	reporter, err := bulwarkgrpc.NewHealth(hs, "inventory", bulwarkgrpc.HealthConfig{})
	if err != nil {
		return nil, err
	}
	serverBreaker, err := circuitbreaker.New(circuitbreaker.Config{Name: "warehouse", ConsecutiveFailures: 3, OpenWait: 500 * time.Millisecond,
		OpenWaitJitter: circuitbreaker.NoJitter, Observer: bulwark.Observers(changes(&rep.serverBreaker, "server"), reporter)})
	if err != nil {
		return nil, err
	}
	svc := &inventory{breaker: serverBreaker}
	limits, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 2000, Period: time.Second}})
	if err != nil {
		return nil, err
	}
	limiter, err := bulwarkgrpc.NewRateLimiter(limits, bulwarkgrpc.RateLimiterConfig{Key: bulwarkgrpc.KeyByMetadata("x-client")})
	if err != nil {
		return nil, err
	}
	seats, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 16})
	if err != nil {
		return nil, err
	}
	shedder, err := bulwarkgrpc.NewShedder(seats, bulwarkgrpc.ShedderConfig{Pushback: 20 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	keeper, err := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
	if err != nil {
		return nil, err
	}
	idem, err := bulwarkgrpc.NewIdempotency(keeper, bulwarkgrpc.IdempotencyConfig{})
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(limiter.UnaryServerInterceptor(), shedder.UnaryServerInterceptor(), idem.UnaryServerInterceptor()))
	testgrpc.RegisterTestServiceServer(srv, svc)
	healthpb.RegisterHealthServer(srv, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	defer func() {
		srv.Stop()
		<-served
	}()
	healthCtx, stopHealth := context.WithCancel(ctx)
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		_ = reporter.Run(healthCtx)
	}()
	defer func() {
		stopHealth()
		<-healthDone
	}()
	log.printf("inventory serving on %s", lis.Addr())

	// The client.
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.2})
	if err != nil {
		return nil, err
	}
	retrier, err := retry.New(retry.Config{MaxAttempts: 3, Backoff: retry.Exponential{Initial: 20 * time.Millisecond}, Budget: budget, AttemptTimeout: 300 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	clientBreaker, err := circuitbreaker.New(circuitbreaker.Config{Name: "inventory", OpenWait: time.Second, MinimumCalls: 10,
		Window: circuitbreaker.LastCalls(20), Observer: changes(&rep.clientBreaker, "client")})
	if err != nil {
		return nil, err
	}
	hedger, err := hedge.New(hedge.Config{Delay: 40 * time.Millisecond, Percentile: hedge.NoPercentile})
	if err != nil {
		return nil, err
	}
	unary, err := bulwarkgrpc.UnaryClientInterceptor(bulwark.Chain(retrier, clientBreaker, hedger), bulwarkgrpc.ClientConfig{IdempotentMethods: []string{unaryMethod}})
	if err != nil {
		return nil, err
	}
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithChainUnaryInterceptor(unary))
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	client := testgrpc.NewTestServiceClient(cc)
	// Health is probed as an orchestrator would, on a connection of its
	// own: through cc the client's open breaker would refuse the probes
	// exactly while the server reports NOT_SERVING.
	probe, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer probe.Close()
	healthClient := healthpb.NewHealthClient(probe)

	// An idempotent charge: sent twice with one key, taken once.
	chargeCtx := metadata.AppendToOutgoingContext(ctx, bulwarkgrpc.MetadataIdempotencyKey, "order-42", "x-client", "checkout")
	charge := &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("charge")}}
	first, err := client.UnaryCall(chargeCtx, charge)
	if err != nil {
		return nil, fmt.Errorf("charge: %w", err)
	}
	again, err := client.UnaryCall(chargeCtx, charge)
	if err != nil {
		return nil, fmt.Errorf("charge again: %w", err)
	}
	rep.replayed = first.GetUsername() == again.GetUsername() && svc.charges.Load() == 1
	log.printf("charge sent twice with idempotency-key order-42: %q, then %q (%d charge taken)", first.GetUsername(), again.GetUsername(), svc.charges.Load())

	// The phases.
	end := time.Now().Add(tl.flaky + tl.down + tl.recovered)
	go func() {
		log.printf("the warehouse is flaky")
		time.Sleep(tl.flaky)
		svc.phase.Store(down)
		log.printf("the warehouse is down")
		time.Sleep(tl.down)
		svc.phase.Store(recovered)
		log.printf("the warehouse is back")
	}()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			callCtx := metadata.AppendToOutgoingContext(ctx, "x-client", fmt.Sprintf("worker-%d", i))
			for time.Now().Before(end) {
				c, cancel := context.WithTimeout(callCtx, time.Second)
				_, err := client.UnaryCall(c, &testgrpc.SimpleRequest{})
				cancel()
				repMu.Lock()
				switch {
				case err == nil:
					rep.ok++
				case errors.Is(err, bulwark.ErrRejected):
					rep.rejected++
				default:
					rep.failed++
				}
				repMu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Go(func() { // watch the health service
		for time.Now().Before(end) {
			resp, err := healthClient.Check(ctx, &healthpb.HealthCheckRequest{Service: "inventory"})
			if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
				repMu.Lock()
				if !rep.notServing {
					log.printf("health: inventory NOT_SERVING")
				}
				rep.notServing = true
				repMu.Unlock()
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	wg.Wait()
	rep.served = svc.served.Load()
	log.printf("client: %d ok, %d failed, %d rejected by its open breaker; the server handled %d calls",
		rep.ok, rep.failed, rep.rejected, rep.served)
	return rep, nil
}
