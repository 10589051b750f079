package bulwarkgrpc_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/grpc/bulwarkgrpc"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/retry"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// plainClient dials svc behind the server interceptors, without client
// interceptors.
func plainClient(t testing.TB, tcp bool, svc *service, opts ...grpc.ServerOption) testgrpc.TestServiceClient {
	t.Helper()
	return testgrpc.NewTestServiceClient(serve(t, tcp, svc, opts))
}

func pushbackOf(t *testing.T, trailer metadata.MD, err error) (time.Duration, time.Duration) {
	t.Helper()
	v := trailer.Get(bulwarkgrpc.MetadataPushback)
	if len(v) != 1 {
		t.Fatalf("trailer %v has no pushback", trailer)
	}
	d, ok := bulwarkgrpc.ParsePushback(v[0])
	if !ok {
		t.Fatalf("bad pushback %q", v[0])
	}
	var info time.Duration
	for _, det := range status.Convert(err).Details() {
		if ri, ok := det.(*errdetails.RetryInfo); ok {
			info = ri.GetRetryDelay().AsDuration()
		}
	}
	return d, info
}

func TestShedder(t *testing.T) {
	for _, code := range []codes.Code{0, codes.ResourceExhausted} {
		t.Run(code.String(), func(t *testing.T) {
			b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			s, err := bulwarkgrpc.NewShedder(b, bulwarkgrpc.ShedderConfig{Code: code, Pushback: 250 * time.Millisecond, Name: "front", Observer: rec})
			if err != nil {
				t.Fatal(err)
			}
			entered, release := make(chan struct{}), make(chan struct{})
			svc := &service{unary: func(ctx context.Context, _ *simpleReq, n int) (*simpleResp, error) {
				if n == 1 {
					close(entered)
					<-release
				}
				return &simpleResp{Username: "served"}, nil
			}}
			c := plainClient(t, false, svc, grpc.UnaryInterceptor(s.UnaryServerInterceptor()))
			var wg sync.WaitGroup
			wg.Go(func() {
				if _, err := c.UnaryCall(context.Background(), &simpleReq{}); err != nil {
					t.Error(err)
				}
			})
			<-entered
			var trailer metadata.MD
			_, err = c.UnaryCall(context.Background(), &simpleReq{}, grpc.Trailer(&trailer))
			close(release)
			wg.Wait()
			want := codes.Unavailable
			if code != 0 {
				want = code
			}
			if status.Code(err) != want {
				t.Fatalf("got %v, want %v", err, want)
			}
			if d, info := pushbackOf(t, trailer, err); d != 250*time.Millisecond || info != d {
				t.Fatalf("pushback %v, RetryInfo %v; want 250ms", d, info)
			}
			sheds := eventsOf[bulwarkgrpc.Shed](rec)
			if len(sheds) != 1 || sheds[0].Method != unaryMethod || !errors.Is(sheds[0].Err, bulkhead.ErrFull) || sheds[0].Kind() != "bulwarkgrpc.shed" {
				t.Fatalf("events %+v", sheds)
			}
			if svc.calls.Load() != 1 {
				t.Fatalf("%d calls reached the handler", svc.calls.Load())
			}
		})
	}
}

func TestShedderBreakerPushbackReachesClientRetry(t *testing.T) {
	// A server breaker's remaining open time is the pushback; the client's
	// retry reads it as RetryAfter.
	b, err := circuitbreaker.New(circuitbreaker.Config{ConsecutiveFailures: 1, OpenWait: 40 * time.Millisecond, OpenWaitJitter: circuitbreaker.NoJitter})
	if err != nil {
		t.Fatal(err)
	}
	s, err := bulwarkgrpc.NewShedder(b, bulwarkgrpc.ShedderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	svc := &service{unary: failing(codes.Internal, 1)}
	rec := &recorder{}
	c := unaryClient(t, false, svc, fastRetry(t, rec, 3), idempotentUnary, grpc.UnaryInterceptor(s.UnaryServerInterceptor()))
	if _, err := c.UnaryCall(context.Background(), &simpleReq{}); status.Code(err) != codes.Internal {
		t.Fatalf("first call: %v", err)
	}
	resp, err := c.UnaryCall(context.Background(), &simpleReq{})
	if err != nil || resp.GetUsername() != "ok" {
		t.Fatalf("second call: %v, %v", resp, err)
	}
	retried := eventsOf[retry.Retried](rec)
	// fastRetry waits 1ms; the pushback is the rest of the breaker's 40ms
	if len(retried) == 0 || retried[0].Delay == time.Millisecond || retried[0].Delay > 41*time.Millisecond {
		t.Fatalf("retries %+v: want a wait of the breaker's open time", retried)
	}
}

func TestShedderStream(t *testing.T) {
	b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := bulwarkgrpc.NewShedder(b, bulwarkgrpc.ShedderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	svc := &service{stream: func(_ *testgrpc.StreamingOutputCallRequest, st testgrpc.TestService_StreamingOutputCallServer, n int) error {
		if n == 1 {
			close(entered)
			<-release
		}
		return st.Send(&testgrpc.StreamingOutputCallResponse{})
	}}
	c := plainClient(t, false, svc, grpc.StreamInterceptor(s.StreamServerInterceptor()))
	var wg sync.WaitGroup
	wg.Go(func() {
		st, err := c.StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{})
		if err == nil {
			_, err = st.Recv()
		}
		if err != nil {
			t.Error(err)
		}
	})
	<-entered
	st, err := c.StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	close(release)
	wg.Wait()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v", err)
	}
}

func TestShedderConfig(t *testing.T) {
	if _, err := bulwarkgrpc.NewShedder(nil, bulwarkgrpc.ShedderConfig{}); err == nil {
		t.Fatal("nil policy accepted")
	}
	if _, err := bulwarkgrpc.NewShedder(bulwark.Chain(), bulwarkgrpc.ShedderConfig{Code: codes.Internal}); err == nil || !strings.Contains(err.Error(), "ShedderConfig.Code") {
		t.Fatalf("bad code: %v", err)
	}
	if _, err := bulwarkgrpc.NewShedder(bulwark.Chain(), bulwarkgrpc.ShedderConfig{Pushback: -1}); err == nil || !strings.Contains(err.Error(), "ShedderConfig.Pushback") {
		t.Fatalf("bad pushback: %v", err)
	}
	d := bulwarkgrpc.DefaultShedderConfig()
	if d.Code != codes.Unavailable || d.Pushback != time.Second {
		t.Fatalf("defaults %+v", d)
	}
}

func keyed(t *testing.T) *ratelimit.Keyed {
	t.Helper()
	k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 1, Period: time.Hour, Burst: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRateLimiterKeys(t *testing.T) {
	withKey := func(v string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), "x-api-key", v)
	}
	cases := []struct {
		name  string
		tcp   bool
		key   func(context.Context, string) string
		other context.Context // a call that counts against another key
		want  string          // the key of the limited call
	}{
		{"peer over tcp", true, nil, nil, "127.0.0.1"},
		{"metadata", false, bulwarkgrpc.KeyByMetadata("x-api-key"), withKey("b"), "a"},
		{"method", false, bulwarkgrpc.KeyByMethod, nil, unaryMethod},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			l, err := bulwarkgrpc.NewRateLimiter(keyed(t), bulwarkgrpc.RateLimiterConfig{Key: tc.key, Name: "rl", Observer: rec})
			if err != nil {
				t.Fatal(err)
			}
			svc := &service{}
			c := plainClient(t, tc.tcp, svc, grpc.UnaryInterceptor(l.UnaryServerInterceptor()))
			ctx := withKey("a")
			if _, err := c.UnaryCall(ctx, &simpleReq{}); err != nil {
				t.Fatal(err)
			}
			var trailer metadata.MD
			_, err = c.UnaryCall(ctx, &simpleReq{}, grpc.Trailer(&trailer))
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("got %v, want ResourceExhausted", err)
			}
			if d, info := pushbackOf(t, trailer, err); d < 59*time.Minute || d > time.Hour || info < 59*time.Minute {
				t.Fatalf("pushback %v, RetryInfo %v: want about an hour", d, info)
			}
			if tc.other != nil {
				if _, err := c.UnaryCall(tc.other, &simpleReq{}); err != nil {
					t.Fatalf("another key was limited: %v", err)
				}
			}
			limited := eventsOf[bulwarkgrpc.Limited](rec)
			if len(limited) != 1 || limited[0].Key != tc.want || limited[0].Method != unaryMethod {
				t.Fatalf("events %+v, want one for key %q", limited, tc.want)
			}
		})
	}
}

type failingLimiter struct{}

func (failingLimiter) Allow(string) error { return errors.New("store down") }

func TestRateLimiterFailure(t *testing.T) {
	for _, closed := range []bool{false, true} {
		rec := &recorder{}
		l, err := bulwarkgrpc.NewRateLimiter(failingLimiter{}, bulwarkgrpc.RateLimiterConfig{FailClosed: closed, Observer: rec})
		if err != nil {
			t.Fatal(err)
		}
		c := plainClient(t, false, &service{}, grpc.UnaryInterceptor(l.UnaryServerInterceptor()), grpc.StreamInterceptor(l.StreamServerInterceptor()))
		_, err = c.UnaryCall(context.Background(), &simpleReq{})
		if closed && status.Code(err) != codes.Unavailable || !closed && err != nil {
			t.Fatalf("FailClosed %v: %v", closed, err)
		}
		if ev := eventsOf[bulwarkgrpc.LimiterFailed](rec); len(ev) != 1 || ev[0].Err == nil {
			t.Fatalf("events %+v", ev)
		}
	}
	if _, err := bulwarkgrpc.NewRateLimiter(nil, bulwarkgrpc.RateLimiterConfig{}); err == nil {
		t.Fatal("nil limiter accepted")
	}
}

// rawCodec is the proto codec, keeping the bytes of each response.
type rawCodec struct {
	encoding.CodecV2
	mu  sync.Mutex
	got [][]byte
}

func (c *rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	c.mu.Lock()
	c.got = append(c.got, data.Materialize())
	c.mu.Unlock()
	return c.CodecV2.Unmarshal(data, v)
}

func (c *rawCodec) last() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[len(c.got)-1]
}

func idempotentServer(t *testing.T, svc *service, kcfg idempotency.Config, cfg bulwarkgrpc.IdempotencyConfig) (testgrpc.TestServiceClient, *rawCodec) {
	t.Helper()
	k, err := idempotency.New(idempotency.NewMemoryStore(), kcfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := bulwarkgrpc.NewIdempotency(k, cfg)
	if err != nil {
		t.Fatal(err)
	}
	codec := &rawCodec{CodecV2: encoding.GetCodecV2("proto")}
	cc := serve(t, false, svc, []grpc.ServerOption{grpc.UnaryInterceptor(m.UnaryServerInterceptor())}, grpc.WithDefaultCallOptions(grpc.ForceCodecV2(codec)))
	return testgrpc.NewTestServiceClient(cc), codec
}

func withIdemKey(k string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), bulwarkgrpc.MetadataIdempotencyKey, k)
}

func TestIdempotencyReplaysBytes(t *testing.T) {
	svc := &service{unary: func(ctx context.Context, req *simpleReq, n int) (*simpleResp, error) {
		if n == 1 && idempotency.AttemptFrom(ctx) == nil {
			return nil, status.Error(codes.Internal, "no attempt in the context")
		}
		return &simpleResp{Username: "call " + string(rune('0'+n)), Payload: req.GetPayload(), ServerId: "s1", Hostname: "h"}, nil
	}}
	c, codec := idempotentServer(t, svc, idempotency.Config{}, bulwarkgrpc.IdempotencyConfig{})
	req := &simpleReq{Payload: &testgrpc.Payload{Body: []byte("charge 10")}}
	first, err := c.UnaryCall(withIdemKey("k1"), req)
	if err != nil {
		t.Fatal(err)
	}
	firstBytes := codec.last()
	var header metadata.MD
	again, err := c.UnaryCall(withIdemKey("k1"), req, grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(codec.last(), firstBytes) || again.GetUsername() != first.GetUsername() || svc.calls.Load() != 1 {
		t.Fatalf("replay %x (%v) differs from %x (%v), or the handler ran %d times", codec.last(), again, firstBytes, first, svc.calls.Load())
	}
	if v := header.Get(bulwarkgrpc.MetadataIdempotentReplayed); len(v) != 1 || v[0] != "true" {
		t.Fatalf("header %v", header)
	}
	// the same key with another request is refused
	_, err = c.UnaryCall(withIdemKey("k1"), &simpleReq{Payload: &testgrpc.Payload{Body: []byte("charge 99")}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("mismatch: %v", err)
	}
	// another key runs the handler; no key passes through
	if _, err := c.UnaryCall(withIdemKey("k2"), req); err != nil || svc.calls.Load() != 2 {
		t.Fatalf("k2: %v, %d calls", err, svc.calls.Load())
	}
	if _, err := c.UnaryCall(context.Background(), req); err != nil || svc.calls.Load() != 3 {
		t.Fatalf("no key: %v, %d calls", err, svc.calls.Load())
	}
}

func TestIdempotencyStatuses(t *testing.T) {
	svc := &service{unary: func(ctx context.Context, req *simpleReq, n int) (*simpleResp, error) {
		switch string(req.GetPayload().GetBody()) {
		case "not found":
			st, _ := status.New(codes.NotFound, "no such account").WithDetails(&errdetails.ResourceInfo{ResourceName: "acct-1"})
			return nil, st.Err()
		case "busy":
			return nil, status.Error(codes.Unavailable, "busy")
		}
		return &simpleResp{}, nil
	}}
	c, _ := idempotentServer(t, svc, idempotency.Config{}, bulwarkgrpc.IdempotencyConfig{})
	notFound := &simpleReq{Payload: &testgrpc.Payload{Body: []byte("not found")}}
	for i := range 2 {
		_, err := c.UnaryCall(withIdemKey("nf"), notFound)
		st := status.Convert(err)
		if st.Code() != codes.NotFound || st.Message() != "no such account" || len(st.Details()) != 1 || svc.calls.Load() != 1 {
			t.Fatalf("call %d: %v with %v, %d handler runs", i, st, st.Details(), svc.calls.Load())
		}
	}
	busy := &simpleReq{Payload: &testgrpc.Payload{Body: []byte("busy")}}
	for i := range 2 {
		if _, err := c.UnaryCall(withIdemKey("busy"), busy); status.Code(err) != codes.Unavailable {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if svc.calls.Load() != 3 {
		t.Fatalf("%d handler runs: a transient failure must not be stored", svc.calls.Load())
	}
}

func TestIdempotencyRefusals(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	svc := &service{unary: func(ctx context.Context, req *simpleReq, n int) (*simpleResp, error) {
		if string(req.GetPayload().GetBody()) == "slow" {
			close(entered)
			<-release
		}
		return &simpleResp{}, nil
	}}
	c, _ := idempotentServer(t, svc, idempotency.Config{Lease: 30 * time.Second}, bulwarkgrpc.IdempotencyConfig{Required: true, MaxKeyLength: 8})
	if _, err := c.UnaryCall(context.Background(), &simpleReq{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("missing key: %v", err)
	}
	for _, bad := range []string{"", "123456789", "a b"} {
		if _, err := c.UnaryCall(withIdemKey(bad), &simpleReq{}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("key %q: %v", bad, err)
		}
	}
	two := metadata.AppendToOutgoingContext(withIdemKey("a"), bulwarkgrpc.MetadataIdempotencyKey, "b")
	if _, err := c.UnaryCall(two, &simpleReq{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("two keys: %v", err)
	}
	slow := &simpleReq{Payload: &testgrpc.Payload{Body: []byte("slow")}}
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := c.UnaryCall(withIdemKey("s"), slow); err != nil {
			t.Error(err)
		}
	})
	<-entered
	var trailer metadata.MD
	_, err := c.UnaryCall(withIdemKey("s"), slow, grpc.Trailer(&trailer))
	close(release)
	wg.Wait()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("in progress: %v", err)
	}
	if d, _ := pushbackOf(t, trailer, err); d <= 0 || d > 30*time.Second {
		t.Fatalf("pushback %v, want the lease's rest", d)
	}
}

func TestIdempotencyMethodsAndConfig(t *testing.T) {
	svc := &service{}
	c, _ := idempotentServer(t, svc, idempotency.Config{}, bulwarkgrpc.IdempotencyConfig{Methods: []string{"/grpc.testing.TestService/EmptyCall"}})
	for range 2 {
		if _, err := c.UnaryCall(withIdemKey("k"), &simpleReq{}); err != nil {
			t.Fatal(err)
		}
	}
	if svc.calls.Load() != 2 {
		t.Fatalf("a method not listed was deduplicated: %d runs", svc.calls.Load())
	}
	if _, err := bulwarkgrpc.NewIdempotency(nil, bulwarkgrpc.IdempotencyConfig{}); err == nil {
		t.Fatal("nil keeper accepted")
	}
	k, _ := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
	if _, err := bulwarkgrpc.NewIdempotency(k, bulwarkgrpc.IdempotencyConfig{MaxKeyLength: -1}); err == nil || !strings.Contains(err.Error(), "IdempotencyConfig.MaxKeyLength") {
		t.Fatalf("bad MaxKeyLength: %v", err)
	}
}

func TestHealth(t *testing.T) {
	hs := health.NewServer()
	fake := clocktest.New(time.Unix(0, 0))
	rec := &recorder{}
	h, err := bulwarkgrpc.NewHealth(hs, "orders", bulwarkgrpc.HealthConfig{Hold: time.Second, Clock: fake, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	statusOf := func() healthpb.HealthCheckResponse_ServingStatus {
		resp, err := hs.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "orders"})
		if err != nil {
			return healthpb.HealthCheckResponse_UNKNOWN
		}
		return resp.GetStatus()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- h.Run(ctx) }()
	waitFor(t, func() bool { return statusOf() == healthpb.HealthCheckResponse_SERVING })

	b, err := circuitbreaker.New(circuitbreaker.Config{Name: "payments", ConsecutiveFailures: 1, Observer: h})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Do(context.Background(), func(context.Context) error { return errors.New("down") })
	if statusOf() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatal("an open breaker should make the service NOT_SERVING")
	}
	b.Reset()
	if statusOf() != healthpb.HealthCheckResponse_SERVING {
		t.Fatal("a closed breaker should make the service SERVING again")
	}

	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1, Observer: h})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := bh.TryAcquire()
	_ = bh.Do(context.Background(), func(context.Context) error { return nil }) // rejected
	p.Release(nil)
	if statusOf() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatal("a shed call should make the service NOT_SERVING")
	}
	fake.BlockUntil(1)
	fake.Advance(999 * time.Millisecond)
	if statusOf() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatal("the hold is not over")
	}
	fake.Advance(time.Millisecond)
	waitFor(t, func() bool { return statusOf() == healthpb.HealthCheckResponse_SERVING })

	changes := eventsOf[bulwarkgrpc.HealthChanged](rec)
	if len(changes) != 5 || changes[1].Cause != "payments" || changes[1].Serving {
		t.Fatalf("changes %+v", changes)
	}
	cancel()
	if err := <-ran; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(context.Background()); !errors.Is(err, bulwark.ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRateLimiterStream(t *testing.T) {
	l, err := bulwarkgrpc.NewRateLimiter(keyed(t), bulwarkgrpc.RateLimiterConfig{Key: bulwarkgrpc.KeyByMethod})
	if err != nil {
		t.Fatal(err)
	}
	svc := &service{stream: func(_ *testgrpc.StreamingOutputCallRequest, st testgrpc.TestService_StreamingOutputCallServer, _ int) error {
		return st.Send(&testgrpc.StreamingOutputCallResponse{})
	}}
	c := plainClient(t, false, svc, grpc.StreamInterceptor(l.StreamServerInterceptor()))
	for i, want := range []codes.Code{codes.OK, codes.ResourceExhausted} {
		st, err := c.StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{})
		if err == nil {
			_, err = st.Recv()
		}
		if status.Code(err) != want {
			t.Fatalf("stream %d: %v, want %v", i, err, want)
		}
	}
	if svc.calls.Load() != 1 {
		t.Fatalf("%d streams reached the handler", svc.calls.Load())
	}
}
