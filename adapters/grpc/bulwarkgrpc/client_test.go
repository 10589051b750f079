package bulwarkgrpc_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/grpc/bulwarkgrpc"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// fastRetry retries with 1ms waits and observes into rec.
func fastRetry(t testing.TB, rec *recorder, attempts int) *retry.Retrier {
	t.Helper()
	cfg := retry.Config{MaxAttempts: attempts, Backoff: retry.Constant{Delay: time.Millisecond}}
	if rec != nil {
		cfg.Observer = rec
	}
	r, err := retry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func unaryClient(t testing.TB, tcp bool, svc *service, p bulwark.Policy, cfg bulwarkgrpc.ClientConfig, serverOpts ...grpc.ServerOption) testgrpc.TestServiceClient {
	t.Helper()
	ui, err := bulwarkgrpc.UnaryClientInterceptor(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	si, err := bulwarkgrpc.StreamClientInterceptor(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cc := serve(t, tcp, svc, serverOpts, grpc.WithUnaryInterceptor(ui), grpc.WithStreamInterceptor(si))
	return testgrpc.NewTestServiceClient(cc)
}

var idempotentUnary = bulwarkgrpc.ClientConfig{IdempotentMethods: []string{unaryMethod}}

// failing answers code for the first n calls, then succeeds.
func failing(code codes.Code, n int) func(context.Context, *simpleReq, int) (*simpleResp, error) {
	return func(_ context.Context, req *simpleReq, call int) (*simpleResp, error) {
		if call <= n {
			return nil, status.Error(code, "injected")
		}
		return &simpleResp{Username: "ok", Payload: req.GetPayload()}, nil
	}
}

func TestUnaryRetriesIdempotentMethod(t *testing.T) {
	for _, path := range paths {
		for _, tcp := range []bool{false, true} {
			name := map[bool]string{false: "bufconn", true: "tcp"}[tcp]
			t.Run(path.name+"/"+name, func(t *testing.T) {
				svc := &service{unary: failing(codes.Unavailable, 2)}
				c := unaryClient(t, tcp, svc, path.wrap(fastRetry(t, nil, 3)), idempotentUnary)
				resp, err := c.UnaryCall(context.Background(), &simpleReq{Payload: &testgrpc.Payload{Body: []byte("hi")}})
				if err != nil {
					t.Fatal(err)
				}
				if string(resp.GetPayload().GetBody()) != "hi" || svc.calls.Load() != 3 {
					t.Fatalf("got %v after %d calls, want the echo after 3", resp, svc.calls.Load())
				}
			})
		}
	}
}

func TestUnaryNonIdempotentAttemptedOnce(t *testing.T) {
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			svc := &service{unary: failing(codes.Unavailable, 5)}
			c := unaryClient(t, false, svc, path.wrap(fastRetry(t, nil, 3)), bulwarkgrpc.ClientConfig{})
			_, err := c.UnaryCall(context.Background(), &simpleReq{})
			if status.Code(err) != codes.Unavailable || svc.calls.Load() != 1 {
				t.Fatalf("got %v after %d calls, want Unavailable after 1", err, svc.calls.Load())
			}
			if !errors.Is(err, retry.ErrNotRetryable) {
				t.Fatalf("the retry should have given up as not retryable: %v", err)
			}
		})
	}
}

func TestUnaryNotReplayableAttemptUnsent(t *testing.T) {
	// A policy that runs op again after a non-idempotent call's first
	// attempt answered with a retryable failure (one that ignores
	// retry.Permanent) gets ErrNotReplayable, and nothing is sent.
	again := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if err := op(ctx); err == nil {
			return nil
		}
		return op(ctx)
	})
	svc := &service{unary: failing(codes.Unavailable, 5)}
	c := unaryClient(t, false, svc, again, bulwarkgrpc.ClientConfig{})
	_, err := c.UnaryCall(context.Background(), &simpleReq{})
	if !errors.Is(err, bulwarkgrpc.ErrNotReplayable) || !retry.IsPermanent(err) || svc.calls.Load() != 1 {
		t.Fatalf("got %v after %d calls, want ErrNotReplayable after 1", err, svc.calls.Load())
	}
}

func TestUnaryHedgeNeverResendsNonIdempotent(t *testing.T) {
	// A hedger that hedges every call still cannot send a non-idempotent
	// call twice: the second attempt fails with ErrNotReplayable unsent.
	h, err := hedge.New(hedge.Config{AllIdempotent: true, Delay: 5 * time.Millisecond, Percentile: hedge.NoPercentile})
	if err != nil {
		t.Fatal(err)
	}
	svc := &service{unary: func(ctx context.Context, req *simpleReq, _ int) (*simpleResp, error) {
		time.Sleep(40 * time.Millisecond)
		return &simpleResp{Username: "slow"}, nil
	}}
	c := unaryClient(t, false, svc, h, bulwarkgrpc.ClientConfig{})
	resp, err := c.UnaryCall(context.Background(), &simpleReq{})
	if err != nil || resp.GetUsername() != "slow" || svc.calls.Load() != 1 {
		t.Fatalf("got %v, %v after %d calls, want the one slow answer", resp, err, svc.calls.Load())
	}
}

func TestUnaryIdempotencyRules(t *testing.T) {
	cases := []struct {
		name string
		cfg  bulwarkgrpc.ClientConfig
		ctx  func(context.Context) context.Context
	}{
		{"method listed", idempotentUnary, nil},
		{"service listed", bulwarkgrpc.ClientConfig{IdempotentMethods: []string{"/grpc.testing.TestService/*"}}, nil},
		{"func", bulwarkgrpc.ClientConfig{IsIdempotent: func(_ context.Context, m string) bool { return m == unaryMethod }}, nil},
		{"idempotency key", bulwarkgrpc.ClientConfig{}, func(ctx context.Context) context.Context {
			return metadata.AppendToOutgoingContext(ctx, bulwarkgrpc.MetadataIdempotencyKey, "k1")
		}},
		{"hedge.Idempotent", bulwarkgrpc.ClientConfig{}, hedge.Idempotent},
	}
	for _, path := range paths {
		for _, tc := range cases {
			t.Run(path.name+"/"+tc.name, func(t *testing.T) {
				svc := &service{unary: failing(codes.Unavailable, 1)}
				c := unaryClient(t, false, svc, path.wrap(fastRetry(t, nil, 3)), tc.cfg)
				ctx := context.Background()
				if tc.ctx != nil {
					ctx = tc.ctx(ctx)
				}
				if _, err := c.UnaryCall(ctx, &simpleReq{}); err != nil || svc.calls.Load() != 2 {
					t.Fatalf("got %v after %d calls, want success after 2", err, svc.calls.Load())
				}
			})
		}
	}
}

func TestUnaryAnswersAreNotFailures(t *testing.T) {
	for _, code := range []codes.Code{codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated, codes.NotFound,
		codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted, codes.OutOfRange, codes.Unimplemented} {
		for _, path := range paths {
			t.Run(path.name+"/"+code.String(), func(t *testing.T) {
				b, err := circuitbreaker.New(circuitbreaker.Config{ConsecutiveFailures: 1})
				if err != nil {
					t.Fatal(err)
				}
				svc := &service{unary: failing(code, 10)}
				c := unaryClient(t, false, svc, path.wrap(bulwark.Chain(fastRetry(t, nil, 3), b)), idempotentUnary)
				for range 3 {
					_, err := c.UnaryCall(context.Background(), &simpleReq{})
					if status.Code(err) != code {
						t.Fatalf("got %v, want %v", err, code)
					}
					if _, ok := status.FromError(err); !ok {
						t.Fatalf("not a status error: %T", err)
					}
				}
				if svc.calls.Load() != 3 || b.State() != circuitbreaker.StateClosed {
					t.Fatalf("%d calls, breaker %v: want 3 calls (no retries) and a closed breaker", svc.calls.Load(), b.State())
				}
			})
		}
	}
}

func TestUnaryFailuresNotRetried(t *testing.T) {
	for _, code := range []codes.Code{codes.Internal, codes.Unknown, codes.DataLoss} {
		for _, path := range paths {
			t.Run(path.name+"/"+code.String(), func(t *testing.T) {
				b, err := circuitbreaker.New(circuitbreaker.Config{ConsecutiveFailures: 1})
				if err != nil {
					t.Fatal(err)
				}
				svc := &service{unary: failing(code, 10)}
				c := unaryClient(t, false, svc, path.wrap(bulwark.Chain(fastRetry(t, nil, 3), b)), idempotentUnary)
				_, err = c.UnaryCall(context.Background(), &simpleReq{})
				if status.Code(err) != code || svc.calls.Load() != 1 || b.State() != circuitbreaker.StateOpen {
					t.Fatalf("got %v, %d calls, breaker %v: want %v once and an open breaker", err, svc.calls.Load(), b.State(), code)
				}
			})
		}
	}
}

func TestUnaryOpenBreakerStatus(t *testing.T) {
	b, err := circuitbreaker.New(circuitbreaker.Config{ConsecutiveFailures: 1, OpenWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	svc := &service{unary: failing(codes.Unavailable, 10)}
	c := unaryClient(t, false, svc, b, idempotentUnary)
	_, _ = c.UnaryCall(context.Background(), &simpleReq{})
	_, err = c.UnaryCall(context.Background(), &simpleReq{})
	if status.Code(err) != codes.Unavailable || !errors.Is(err, circuitbreaker.ErrOpen) || !errors.Is(err, bulwark.ErrRejected) {
		t.Fatalf("got %v (%v), want Unavailable matching ErrOpen", err, status.Code(err))
	}
	if d, ok := bulwark.RetryAfter(err); !ok || d <= 0 || d > time.Minute {
		t.Fatalf("RetryAfter = %v, %v", d, ok)
	}
	if svc.calls.Load() != 1 {
		t.Fatalf("%d calls reached the server, want 1", svc.calls.Load())
	}
}

func TestUnaryPushback(t *testing.T) {
	withDetail := func(d time.Duration) error {
		st, _ := status.New(codes.Unavailable, "busy").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		return st.Err()
	}
	cases := []struct {
		name    string
		trailer string // "" sends none
		err     error
		delay   time.Duration // the wait the retry must take; -1: not retried
	}{
		{"trailer", "30", status.Error(codes.Unavailable, "busy"), 30 * time.Millisecond},
		{"trailer zero", "0", status.Error(codes.Unavailable, "busy"), 0},
		{"retry info", "", withDetail(25 * time.Millisecond), 25 * time.Millisecond},
		{"trailer wins over retry info", "7", withDetail(time.Second), 7 * time.Millisecond},
		{"negative: do not retry", "-1", status.Error(codes.Unavailable, "busy"), -1},
		{"malformed: do not retry", "soon", status.Error(codes.Unavailable, "busy"), -1},
	}
	for _, path := range paths {
		for _, tc := range cases {
			t.Run(path.name+"/"+tc.name, func(t *testing.T) {
				svc := &service{unary: func(ctx context.Context, _ *simpleReq, n int) (*simpleResp, error) {
					if n > 1 {
						return &simpleResp{}, nil
					}
					if tc.trailer != "" {
						_ = grpc.SetTrailer(ctx, metadata.Pairs(bulwarkgrpc.MetadataPushback, tc.trailer))
					}
					return nil, tc.err
				}}
				rec := &recorder{}
				r, err := retry.New(retry.Config{Observer: rec, Backoff: retry.Constant{Delay: 3 * time.Second}})
				if err != nil {
					t.Fatal(err)
				}
				c := unaryClient(t, false, svc, path.wrap(r), idempotentUnary)
				_, err = c.UnaryCall(context.Background(), &simpleReq{})
				retried := eventsOf[retry.Retried](rec)
				if tc.delay < 0 {
					if err == nil || len(retried) != 0 || !retry.IsPermanent(errors.Unwrap(err.(*retry.Error).Err)) && !errors.Is(err, retry.ErrNotRetryable) {
						t.Fatalf("got %v with %d retries, want a permanent failure", err, len(retried))
					}
					return
				}
				if err != nil || len(retried) != 1 || retried[0].Delay != tc.delay {
					t.Fatalf("got %v, retries %+v: want one retry after %v", err, retried, tc.delay)
				}
				if d, ok := bulwark.RetryAfter(retried[0].Err); !ok || d != tc.delay {
					t.Fatalf("RetryAfter(%v) = %v, %v", retried[0].Err, d, ok)
				}
				var se *bulwarkgrpc.StatusError
				if !errors.As(retried[0].Err, &se) || se.Code() != codes.Unavailable || se.Method != unaryMethod {
					t.Fatalf("the retry saw %T %v, want a *StatusError", retried[0].Err, retried[0].Err)
				}
			})
		}
	}
}

func TestUnaryAttemptDeadline(t *testing.T) {
	cases := []struct {
		name           string
		callerDeadline time.Duration
		attemptTimeout time.Duration
		max            time.Duration
	}{
		{"attempt timeout inside the caller's deadline", 10 * time.Second, 200 * time.Millisecond, 200 * time.Millisecond},
		{"caller's deadline inside the attempt timeout", 300 * time.Millisecond, 10 * time.Second, 300 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var left atomic.Int64
			svc := &service{unary: func(ctx context.Context, _ *simpleReq, _ int) (*simpleResp, error) {
				d, ok := ctx.Deadline()
				if !ok {
					return nil, status.Error(codes.Internal, "no deadline")
				}
				left.Store(int64(time.Until(d)))
				return &simpleResp{}, nil
			}}
			r, err := retry.New(retry.Config{AttemptTimeout: tc.attemptTimeout})
			if err != nil {
				t.Fatal(err)
			}
			c := unaryClient(t, false, svc, r, idempotentUnary)
			ctx, cancel := context.WithTimeout(context.Background(), tc.callerDeadline)
			defer cancel()
			if _, err := c.UnaryCall(ctx, &simpleReq{}); err != nil {
				t.Fatal(err)
			}
			if got := time.Duration(left.Load()); got <= 0 || got > tc.max {
				t.Fatalf("the server saw %v left, want (0, %v]", got, tc.max)
			}
		})
	}
}

func TestUnaryAttemptTimeoutRetried(t *testing.T) {
	svc := &service{unary: func(ctx context.Context, _ *simpleReq, n int) (*simpleResp, error) {
		if n == 1 {
			<-ctx.Done()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return &simpleResp{Username: "second"}, nil
	}}
	r, err := retry.New(retry.Config{AttemptTimeout: 50 * time.Millisecond, Backoff: retry.Constant{Delay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	c := unaryClient(t, false, svc, r, idempotentUnary)
	resp, err := c.UnaryCall(context.Background(), &simpleReq{})
	if err != nil || resp.GetUsername() != "second" {
		t.Fatalf("got %v, %v", resp, err)
	}
}

func TestUnaryTimeoutPolicyStatus(t *testing.T) {
	to, err := timeout.New(timeout.Config{Timeout: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	svc := &service{unary: func(ctx context.Context, _ *simpleReq, _ int) (*simpleResp, error) {
		time.Sleep(300 * time.Millisecond) // past the deadline, without a word to the client
		return &simpleResp{}, nil
	}}
	c := unaryClient(t, false, svc, to, bulwarkgrpc.ClientConfig{})
	start := time.Now()
	_, err = c.UnaryCall(context.Background(), &simpleReq{})
	// The server may end the call at the deadline it was sent before the
	// client's timer fires: either way the caller reads DeadlineExceeded.
	if status.Code(err) != codes.DeadlineExceeded || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("got %v after %v, want DeadlineExceeded at once", err, time.Since(start))
	}

	// A timeout's own error, without a status, reads as DeadlineExceeded
	// and still matches timeout.ErrTimeout.
	ui, err := bulwarkgrpc.UnaryClientInterceptor(to, bulwarkgrpc.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	slow := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
		time.Sleep(60 * time.Millisecond) // ignores its context
		return nil
	}
	err = ui(context.Background(), unaryMethod, &simpleReq{}, &simpleResp{}, nil, slow)
	if status.Code(err) != codes.DeadlineExceeded || !errors.Is(err, timeout.ErrTimeout) {
		t.Fatalf("got %v, want DeadlineExceeded matching timeout.ErrTimeout", err)
	}
}

func TestUnaryHedgedReply(t *testing.T) {
	h, err := hedge.New(hedge.Config{Delay: 10 * time.Millisecond, Percentile: hedge.NoPercentile})
	if err != nil {
		t.Fatal(err)
	}
	svc := &service{unary: func(ctx context.Context, req *simpleReq, n int) (*simpleResp, error) {
		if n == 1 {
			select {
			case <-ctx.Done():
				return nil, status.FromContextError(ctx.Err()).Err()
			case <-time.After(5 * time.Second):
			}
		}
		return &simpleResp{Username: "hedge", Payload: req.GetPayload()}, nil
	}}
	c := unaryClient(t, false, svc, h, idempotentUnary)
	start := time.Now()
	resp, err := c.UnaryCall(context.Background(), &simpleReq{Payload: &testgrpc.Payload{Body: []byte("x")}})
	if err != nil || resp.GetUsername() != "hedge" || string(resp.GetPayload().GetBody()) != "x" {
		t.Fatalf("got %v, %v", resp, err)
	}
	if time.Since(start) > 2*time.Second || svc.calls.Load() != 2 {
		t.Fatalf("took %v with %d calls; the hedge should have answered", time.Since(start), svc.calls.Load())
	}
}

func TestClientConfigErrors(t *testing.T) {
	if _, err := bulwarkgrpc.UnaryClientInterceptor(nil, bulwarkgrpc.ClientConfig{}); err == nil || !strings.Contains(err.Error(), "needs a policy") {
		t.Fatalf("nil policy: %v", err)
	}
	for _, m := range []string{"grpc.testing.TestService/UnaryCall", "/grpc.testing.TestService", "/svc/a/b", "/svc/a*", "//m"} {
		_, err := bulwarkgrpc.StreamClientInterceptor(bulwark.Chain(), bulwarkgrpc.ClientConfig{IdempotentMethods: []string{m}})
		if err == nil || !strings.HasPrefix(err.Error(), "bulwarkgrpc: ClientConfig.IdempotentMethods[0]") {
			t.Fatalf("%q: %v", m, err)
		}
	}
}

func TestClassifier(t *testing.T) {
	failures := map[codes.Code]bool{codes.Unavailable: true, codes.DeadlineExceeded: true, codes.ResourceExhausted: true,
		codes.Internal: true, codes.Unknown: true, codes.DataLoss: true}
	retryable := map[codes.Code]bool{codes.Unavailable: true, codes.DeadlineExceeded: true, codes.ResourceExhausted: true}
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		err := status.Error(c, "x")
		wrapped := errors.Join(errors.New("context"), err)
		if bulwarkgrpc.FailureCode(c) != failures[c] || bulwarkgrpc.IsFailure(wrapped) != failures[c] {
			t.Errorf("%v: failure = %v, want %v", c, bulwarkgrpc.FailureCode(c), failures[c])
		}
		if bulwarkgrpc.RetryableCode(c) != retryable[c] || bulwarkgrpc.IsRetryable(wrapped) != retryable[c] {
			t.Errorf("%v: retryable = %v, want %v", c, bulwarkgrpc.RetryableCode(c), retryable[c])
		}
	}
	if bulwarkgrpc.IsFailure(nil) || bulwarkgrpc.IsRetryable(nil) || !bulwarkgrpc.IsFailure(io.ErrUnexpectedEOF) || !bulwarkgrpc.IsRetryable(io.ErrUnexpectedEOF) {
		t.Error("nil is neither; an error without a status is both")
	}
}

func TestStreamRetriesBeforeFirstMessage(t *testing.T) {
	svc := &service{stream: func(req *testgrpc.StreamingOutputCallRequest, s testgrpc.TestService_StreamingOutputCallServer, n int) error {
		if n <= 2 {
			return status.Error(codes.Unavailable, "not yet")
		}
		for i := range len(req.GetResponseParameters()) {
			if err := s.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: []byte{byte(i)}}}); err != nil {
				return err
			}
		}
		return nil
	}}
	c := unaryClient(t, false, svc, fastRetry(t, nil, 3), bulwarkgrpc.ClientConfig{IdempotentMethods: []string{streamMethod}})
	st, err := c.StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{ResponseParameters: make([]*testgrpc.ResponseParameters, 3)})
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for {
		m, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.GetPayload().GetBody()...)
	}
	if string(got) != "\x00\x01\x02" || svc.calls.Load() != 3 {
		t.Fatalf("got %q after %d streams", got, svc.calls.Load())
	}
}

func TestStreamNotRetriedAfterFirstMessage(t *testing.T) {
	svc := &service{stream: func(_ *testgrpc.StreamingOutputCallRequest, s testgrpc.TestService_StreamingOutputCallServer, _ int) error {
		if err := s.Send(&testgrpc.StreamingOutputCallResponse{}); err != nil {
			return err
		}
		return status.Error(codes.Unavailable, "broke")
	}}
	c := unaryClient(t, false, svc, fastRetry(t, nil, 3), bulwarkgrpc.ClientConfig{IdempotentMethods: []string{streamMethod}})
	st, err := c.StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.Unavailable || svc.calls.Load() != 1 {
		t.Fatalf("got %v after %d streams, want Unavailable after 1", err, svc.calls.Load())
	}
}

func TestStreamAnswersAndNonIdempotent(t *testing.T) {
	t.Run("answer", func(t *testing.T) {
		svc := &service{stream: func(*testgrpc.StreamingOutputCallRequest, testgrpc.TestService_StreamingOutputCallServer, int) error {
			return status.Error(codes.NotFound, "nothing")
		}}
		c := unaryClient(t, false, svc, fastRetry(t, nil, 3), bulwarkgrpc.ClientConfig{IdempotentMethods: []string{streamMethod}})
		st, err := c.StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); status.Code(err) != codes.NotFound || svc.calls.Load() != 1 {
			t.Fatalf("got %v after %d streams", err, svc.calls.Load())
		}
	})
	t.Run("not idempotent", func(t *testing.T) {
		svc := &service{stream: func(*testgrpc.StreamingOutputCallRequest, testgrpc.TestService_StreamingOutputCallServer, int) error {
			return status.Error(codes.Unavailable, "down")
		}}
		c := unaryClient(t, false, svc, fastRetry(t, nil, 3), bulwarkgrpc.ClientConfig{})
		st, err := c.StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); status.Code(err) != codes.Unavailable || svc.calls.Load() != 1 {
			t.Fatalf("got %v after %d streams", err, svc.calls.Load())
		}
	})
	t.Run("empty stream", func(t *testing.T) {
		svc := &service{stream: func(*testgrpc.StreamingOutputCallRequest, testgrpc.TestService_StreamingOutputCallServer, int) error {
			return nil
		}}
		c := unaryClient(t, true, svc, fastRetry(t, nil, 3), bulwarkgrpc.ClientConfig{IdempotentMethods: []string{streamMethod}})
		st, err := c.StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != io.EOF {
			t.Fatalf("got %v, want io.EOF", err)
		}
	})
}

func TestBidiStreamOpensThroughPolicy(t *testing.T) {
	b, err := circuitbreaker.New(circuitbreaker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	svc := &service{duplex: func(s testgrpc.TestService_FullDuplexCallServer) error {
		for {
			m, err := s.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := s.Send(&testgrpc.StreamingOutputCallResponse{Payload: m.GetPayload()}); err != nil {
				return err
			}
		}
	}}
	c := unaryClient(t, false, svc, b, bulwarkgrpc.ClientConfig{})
	st, err := c.FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte("a")}}); err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil || string(m.GetPayload().GetBody()) != "a" {
		t.Fatalf("got %v, %v", m, err)
	}
	_ = st.CloseSend()
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("got %v, want io.EOF", err)
	}
	b.ForceOpen()
	_, err = c.FullDuplexCall(context.Background())
	if status.Code(err) != codes.Unavailable || !errors.Is(err, circuitbreaker.ErrOpen) {
		t.Fatalf("with the breaker open: %v", err)
	}
}

func TestUnaryWaitsForAttemptLeftBehind(t *testing.T) {
	// A detached timeout returns at its deadline and leaves the attempt
	// running; the interceptor returns only once that attempt has.
	to, err := timeout.New(timeout.Config{Timeout: 10 * time.Millisecond, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	ui, err := bulwarkgrpc.UnaryClientInterceptor(to, bulwarkgrpc.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var finished atomic.Bool
	slow := func(_ context.Context, _ string, _, reply any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		time.Sleep(60 * time.Millisecond) // ignores its context
		reply.(*simpleResp).Username = "late"
		finished.Store(true)
		return nil
	}
	err = ui(context.Background(), unaryMethod, &simpleReq{}, &simpleResp{}, nil, slow)
	if status.Code(err) != codes.DeadlineExceeded || !errors.Is(err, timeout.ErrTimeout) {
		t.Fatalf("got %v, want the timeout", err)
	}
	if !finished.Load() {
		t.Fatal("the interceptor returned while its attempt was still running")
	}
}
