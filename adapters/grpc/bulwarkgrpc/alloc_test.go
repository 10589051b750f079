package bulwarkgrpc_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/grpc/bulwarkgrpc"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"google.golang.org/grpc"
)

// okInvoker answers every call at once.
func okInvoker(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
	return nil
}

func TestUnaryDirectPoliciesAllocateNothing(t *testing.T) {
	br, err := circuitbreaker.New(circuitbreaker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 8})
	if err != nil {
		t.Fatal(err)
	}
	// Under the race detector sync.Pool drops a quarter of what it is
	// given back, so the reused call options are sometimes made afresh.
	most := 0.0
	if testenv.RaceEnabled {
		most = 0.5
	}
	policies := map[string]struct {
		p    bulwark.Policy
		most float64
	}{
		"retry":                  {fastRetry(t, nil, 3), most},
		"retry+breaker+bulkhead": {bulwark.Chain(fastRetry(t, nil, 3), bulwark.Chain(br, bh)), most},
		// any other policy: the call's state is the one allocation
		"general": {bulwark.Chain(fastRetry(t, nil, 3), bulwark.PolicyFunc(br.Do)), 1 + most},
	}
	ctx := context.Background()
	req, reply := &simpleReq{}, &simpleResp{}
	for name, tc := range policies {
		for _, cfg := range []bulwarkgrpc.ClientConfig{idempotentUnary, {}} {
			ic, err := bulwarkgrpc.UnaryClientInterceptor(tc.p, cfg)
			if err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(200, func() {
				if err := ic(ctx, unaryMethod, req, reply, nil, okInvoker); err != nil {
					t.Fatal(err)
				}
			})
			if allocs > tc.most {
				t.Errorf("%s, idempotent %v: %v allocations per call, want at most %v", name, len(cfg.IdempotentMethods) > 0, allocs, tc.most)
			}
		}
	}
}

func TestUnaryPassesTheCallersOptionsAndTheTrailerOption(t *testing.T) {
	// The options an attempt hands the invoker are reused from call to
	// call: each call must see its caller's options and one trailer
	// option, never another call's.
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			ic, err := bulwarkgrpc.UnaryClientInterceptor(path.wrap(fastRetry(t, nil, 3)), idempotentUnary)
			if err != nil {
				t.Fatal(err)
			}
			var seen []grpc.CallOption
			invoker := func(_ context.Context, _ string, _, _ any, _ *grpc.ClientConn, opts ...grpc.CallOption) error {
				seen = append(seen[:0], opts...)
				return nil
			}
			req, reply := &simpleReq{}, &simpleResp{}
			for _, opts := range [][]grpc.CallOption{
				{grpc.WaitForReady(true), grpc.MaxCallRecvMsgSize(1 << 10)},
				nil,
				{grpc.CallContentSubtype("proto")},
			} {
				if err := ic(context.Background(), unaryMethod, req, reply, nil, invoker, opts...); err != nil {
					t.Fatal(err)
				}
				if len(seen) != len(opts)+1 {
					t.Fatalf("the invoker got %d options for a call with %d: want the caller's and a trailer option", len(seen), len(opts))
				}
				for i, o := range opts {
					if seen[i] != o {
						t.Fatalf("option %d is %#v, want the caller's %#v", i, seen[i], o)
					}
				}
				if _, ok := seen[len(opts)].(grpc.TrailerCallOption); !ok {
					t.Fatalf("the last option is %T, want grpc.TrailerCallOption", seen[len(opts)])
				}
			}
		})
	}
}
