package grpcotel

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/grpc/bulwarkgrpc"
	"github.com/bulwark-go/bulwark/adapters/otel/otelbulwark"
	"github.com/bulwark-go/bulwark/retry"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

type flaky struct {
	testgrpc.UnimplementedTestServiceServer
	calls atomic.Int32
}

func (f *flaky) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if f.calls.Add(1) < 3 {
		return nil, status.Error(codes.Unavailable, "warming up")
	}
	return &testgrpc.SimpleResponse{Username: "ok"}, nil
}

func TestSpansLineUp(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	prop := propagation.TraceContext{}
	tel, err := otelbulwark.New(otelbulwark.Config{TracerProvider: tp, MeterProvider: sdkmetric.NewMeterProvider()})
	if err != nil {
		t.Fatal(err)
	}

	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(prop))))
	testgrpc.RegisterTestServiceServer(srv, &flaky{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	defer func() {
		srv.Stop()
		<-done
	}()

	r, err := retry.New(retry.Config{Name: "inventory", Observer: tel, Backoff: retry.Constant{Delay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	unary, err := bulwarkgrpc.UnaryClientInterceptor(bulwark.Chain(tel.Trace("inventory"), r, tel.TraceAttempts()),
		bulwarkgrpc.ClientConfig{IdempotentMethods: []string{"/grpc.testing.TestService/UnaryCall"}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("passthrough:///bufnet", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(prop))),
		grpc.WithChainUnaryInterceptor(unary))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()

	ctx, caller := tp.Tracer("test").Start(context.Background(), "checkout")
	if _, err := testgrpc.NewTestServiceClient(cc).UnaryCall(ctx, &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	caller.End()

	// A server span ends after its answer went out, so the last attempt's
	// may end just after the call returned: wait for it (up to 5s).
	var policySpan sdktrace.ReadOnlySpan
	var clients, servers []sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		policySpan, clients, servers = nil, nil, nil
		for _, s := range spans.Ended() {
			switch {
			case s.Name() == "inventory":
				policySpan = s
			case s.SpanKind() == trace.SpanKindClient:
				clients = append(clients, s)
			case s.SpanKind() == trace.SpanKindServer:
				servers = append(servers, s)
			}
		}
		if len(servers) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	if policySpan == nil || policySpan.Parent().SpanID() != caller.SpanContext().SpanID() {
		t.Fatalf("no policy span under the caller's: %v", policySpan)
	}
	retried := 0
	for _, e := range policySpan.Events() {
		if e.Name == "retry.retried" {
			retried++
		}
	}
	if retried != 2 {
		t.Fatalf("the policy span has %d retry.retried events, want 2: %+v", retried, policySpan.Events())
	}
	if len(clients) != 3 || len(servers) != 3 {
		t.Fatalf("%d client and %d server spans, want one of each per attempt", len(clients), len(servers))
	}
	bySpan := map[trace.SpanID]bool{}
	for _, c := range clients {
		if c.Parent().SpanID() != policySpan.SpanContext().SpanID() || c.SpanContext().TraceID() != caller.SpanContext().TraceID() {
			t.Fatalf("client span %s is not a child of the policy span", c.Name())
		}
		bySpan[c.SpanContext().SpanID()] = true
	}
	for _, s := range servers {
		if !bySpan[s.Parent().SpanID()] {
			t.Fatalf("server span %s is not a child of an attempt's client span", s.Name())
		}
	}
}
