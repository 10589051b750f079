package bulwarkgrpc_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulwark-go/bulwark"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/test/bufconn"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testpb is grpc's interop test service, registered by grpc's module: no
// protoc needed.
type (
	simpleReq  = testgrpc.SimpleRequest
	simpleResp = testgrpc.SimpleResponse
)

const (
	unaryMethod  = "/grpc.testing.TestService/UnaryCall"
	streamMethod = "/grpc.testing.TestService/StreamingOutputCall"
)

// service is a TestService whose behaviour each test sets.
type service struct {
	testgrpc.UnimplementedTestServiceServer
	unary  func(ctx context.Context, req *simpleReq, n int) (*simpleResp, error)
	stream func(req *testgrpc.StreamingOutputCallRequest, s testgrpc.TestService_StreamingOutputCallServer, n int) error
	duplex func(s testgrpc.TestService_FullDuplexCallServer) error
	calls  atomic.Int32
}

func (s *service) UnaryCall(ctx context.Context, req *simpleReq) (*simpleResp, error) {
	n := int(s.calls.Add(1))
	if s.unary == nil {
		return &simpleResp{Username: "ok", Payload: req.GetPayload()}, nil
	}
	return s.unary(ctx, req, n)
}

func (s *service) StreamingOutputCall(req *testgrpc.StreamingOutputCallRequest, st testgrpc.TestService_StreamingOutputCallServer) error {
	n := int(s.calls.Add(1))
	return s.stream(req, st, n)
}

func (s *service) FullDuplexCall(st testgrpc.TestService_FullDuplexCallServer) error {
	s.calls.Add(1)
	return s.duplex(st)
}

// serve starts a grpc server with svc over bufconn (tcp false) or loopback
// TCP and returns a client connection to it; both stop when the test ends.
func serve(t testing.TB, tcp bool, svc *service, serverOpts []grpc.ServerOption, clientOpts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	srv := grpc.NewServer(serverOpts...)
	testgrpc.RegisterTestServiceServer(srv, svc)
	var lis net.Listener
	target := "passthrough:///bufnet"
	if tcp {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis, target = l, l.Addr().String()
	} else {
		bl := bufconn.Listen(1 << 20)
		lis = bl
		clientOpts = append(clientOpts, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return bl.DialContext(ctx) }))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	cc, err := grpc.NewClient(target, append(clientOpts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Close()
		srv.Stop()
		<-done
	})
	return cc
}

// recorder is an Observer that keeps events.
type recorder struct {
	mu     sync.Mutex
	events []bulwark.Event
}

func (r *recorder) Observe(_ context.Context, e bulwark.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []bulwark.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bulwark.Event(nil), r.events...)
}

// eventsOf returns the recorded events of type T.
func eventsOf[T bulwark.Event](r *recorder) []T {
	var out []T
	for _, e := range r.all() {
		if v, ok := e.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// paths are the two ways the unary client interceptor runs its policy:
// itself, when the policy is a retry, a breaker, a bulkhead or a chain of
// them ("direct"), and through bulwark.Policy otherwise ("general"). wrap
// turns a policy into one that takes its path.
var paths = []struct {
	name string
	wrap func(bulwark.Policy) bulwark.Policy
}{
	{"direct", func(p bulwark.Policy) bulwark.Policy { return p }},
	{"general", func(p bulwark.Policy) bulwark.Policy { return bulwark.PolicyFunc(p.Do) }},
}
