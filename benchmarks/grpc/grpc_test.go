// Package grpc measures what a client interceptor adds to a unary gRPC
// call: bulwarkgrpc's with a chain of retry, circuit breaker and bulkhead,
// beside failsafe-go's failsafegrpc with the same three policies and
// go-grpc-middleware's retry interceptor (a retry only: it has no breaker
// or bulkhead). Two views of the same thing:
//
//   - BenchmarkInterceptor calls each interceptor with an invoker that
//     returns at once, so the figure is the interceptor's own cost (ns and
//     allocations per call), free of the transport's noise;
//   - BenchmarkUnaryCall makes real calls over bufconn (an in-memory
//     connection, client and server in the process), impl=none being the
//     call without an interceptor: each interceptor's added cost is its
//     figure minus none's.
package grpc

import (
	"context"
	"net"
	"testing"

	"github.com/failsafe-go/failsafe-go"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	fscb "github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafegrpc"
	fsretry "github.com/failsafe-go/failsafe-go/retrypolicy"
	gmretry "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/test/bufconn"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/grpc/bulwarkgrpc"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/retry"
)

const method = "/grpc.testing.TestService/EmptyCall"

type impl struct {
	name string
	ic   grpc.UnaryClientInterceptor
}

// chains returns, for each chain of policies, each library's unary client
// interceptor running it for a method declared idempotent: retry (3
// attempts) → breaker (defaults) → bulkhead (64 permits), and retry alone
// (go-grpc-middleware has only retry).
func chains(b *testing.B) map[string][]impl {
	newRetry := func() *retry.Retrier {
		r, err := retry.New(retry.Config{})
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	br, err := circuitbreaker.New(circuitbreaker.Config{})
	if err != nil {
		b.Fatal(err)
	}
	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 64})
	if err != nil {
		b.Fatal(err)
	}
	bulwarkIC := func(p bulwark.Policy) grpc.UnaryClientInterceptor {
		ic, err := bulwarkgrpc.UnaryClientInterceptor(p, bulwarkgrpc.ClientConfig{IdempotentMethods: []string{method}})
		if err != nil {
			b.Fatal(err)
		}
		return ic
	}
	return map[string][]impl{
		"retry+breaker+bulkhead": {
			{"bulwark", bulwarkIC(bulwark.Chain(newRetry(), br, bh))},
			{"failsafe-go", failsafegrpc.NewUnaryClientInterceptorWithExecutor(failsafe.With[any](
				fsretry.NewBuilder[any]().WithMaxAttempts(3).Build(),
				fscb.NewWithDefaults[any](),
				fsbulkhead.New[any](64),
			))},
		},
		"retry": {
			{"bulwark", bulwarkIC(newRetry())},
			{"failsafe-go", failsafegrpc.NewUnaryClientInterceptor[any](fsretry.NewBuilder[any]().WithMaxAttempts(3).Build())},
			{"go-grpc-middleware", gmretry.UnaryClientInterceptor(gmretry.WithMax(3))},
		},
	}
}

var chainNames = []string{"retry+breaker+bulkhead", "retry"}

func BenchmarkInterceptor(b *testing.B) {
	ctx := context.Background()
	req, reply := &testgrpc.Empty{}, &testgrpc.Empty{}
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	all := chains(b)
	for _, chain := range chainNames {
		for _, tc := range all[chain] {
			b.Run("chain="+chain+"/impl="+tc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := tc.ic(ctx, method, req, reply, nil, invoker); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

type server struct {
	testgrpc.UnimplementedTestServiceServer
}

func (server) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	return &testgrpc.Empty{}, nil
}

// dial serves the test service over bufconn and returns a client through ic
// (none when nil).
func dial(b *testing.B, ic grpc.UnaryClientInterceptor) testgrpc.TestServiceClient {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(srv, server{})
	go func() { _ = srv.Serve(lis) }()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })}
	if ic != nil {
		opts = append(opts, grpc.WithUnaryInterceptor(ic))
	}
	cc, err := grpc.NewClient("passthrough:///bench", opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cc.Close()
		srv.Stop()
	})
	c := testgrpc.NewTestServiceClient(cc)
	if _, err := c.EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil { // connect
		b.Fatal(err)
	}
	return c
}

func BenchmarkUnaryCall(b *testing.B) {
	ctx := context.Background()
	all := chains(b)
	for _, chain := range chainNames {
		for _, tc := range append([]impl{{"none", nil}}, all[chain]...) {
			b.Run("chain="+chain+"/impl="+tc.name, func(b *testing.B) {
				c := dial(b, tc.ic)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.EmptyCall(ctx, &testgrpc.Empty{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
