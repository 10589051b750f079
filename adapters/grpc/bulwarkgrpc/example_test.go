package bulwarkgrpc_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/grpc/bulwarkgrpc"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// flaky answers UNAVAILABLE to its first call, then echoes.
type flaky struct {
	testgrpc.UnimplementedTestServiceServer
	calls atomic.Int32
}

func (f *flaky) UnaryCall(_ context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if f.calls.Add(1) == 1 {
		return nil, status.Error(codes.Unavailable, "warming up")
	}
	return &testgrpc.SimpleResponse{Username: string(req.GetPayload().GetBody())}, nil
}

// exampleServer serves svc over an in-memory listener behind the server
// options; stop ends it.
func exampleServer(svc testgrpc.TestServiceServer, opts []grpc.ServerOption, dial ...grpc.DialOption) (cc *grpc.ClientConn, stop func()) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(opts...)
	testgrpc.RegisterTestServiceServer(srv, svc)
	go func() { _ = srv.Serve(lis) }()
	dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	cc, err := grpc.NewClient("passthrough:///example", dial...)
	if err != nil {
		panic(err)
	}
	return cc, func() { cc.Close(); srv.Stop() }
}

func ExampleUnaryClientInterceptor() {
	r, _ := retry.New(retry.Config{Backoff: retry.Constant{Delay: time.Millisecond}})
	b, _ := circuitbreaker.New(circuitbreaker.Config{Name: "echo"})
	unary, err := bulwarkgrpc.UnaryClientInterceptor(bulwark.Chain(r, b), bulwarkgrpc.ClientConfig{
		IdempotentMethods: []string{"/grpc.testing.TestService/UnaryCall"},
	})
	if err != nil {
		panic(err)
	}
	svc := &flaky{}
	cc, stop := exampleServer(svc, nil, grpc.WithChainUnaryInterceptor(unary))
	defer stop()

	resp, err := testgrpc.NewTestServiceClient(cc).UnaryCall(context.Background(),
		&testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("hello")}})
	fmt.Println(resp.GetUsername(), err, "after", svc.calls.Load(), "attempts")
	// Output: hello <nil> after 2 attempts
}

func ExampleNewShedder() {
	b, _ := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	shedder, err := bulwarkgrpc.NewShedder(b, bulwarkgrpc.ShedderConfig{Pushback: 200 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	permit, _ := b.TryAcquire() // the server is busy
	defer permit.Release(nil)
	cc, stop := exampleServer(&flaky{}, []grpc.ServerOption{grpc.ChainUnaryInterceptor(shedder.UnaryServerInterceptor())})
	defer stop()

	var trailer metadata.MD
	_, err = testgrpc.NewTestServiceClient(cc).UnaryCall(context.Background(), &testgrpc.SimpleRequest{}, grpc.Trailer(&trailer))
	fmt.Println(status.Code(err), trailer.Get(bulwarkgrpc.MetadataPushback))
	// Output: Unavailable [200]
}

func ExampleNewIdempotency() {
	keeper, _ := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
	m, err := bulwarkgrpc.NewIdempotency(keeper, bulwarkgrpc.IdempotencyConfig{})
	if err != nil {
		panic(err)
	}
	svc := &flaky{}
	svc.calls.Store(1) // no warming up
	cc, stop := exampleServer(svc, []grpc.ServerOption{grpc.ChainUnaryInterceptor(m.UnaryServerInterceptor())})
	defer stop()

	ctx := metadata.AppendToOutgoingContext(context.Background(), bulwarkgrpc.MetadataIdempotencyKey, "order-42")
	client := testgrpc.NewTestServiceClient(cc)
	req := &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("charge")}}
	for range 3 {
		resp, err := client.UnaryCall(ctx, req)
		fmt.Println(resp.GetUsername(), err)
	}
	fmt.Println("handler runs:", svc.calls.Load()-1)
	// Output:
	// charge <nil>
	// charge <nil>
	// charge <nil>
	// handler runs: 1
}
