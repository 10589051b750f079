package gateway_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/gateway"
)

func TestRunAndCloseKeepTheServiceContract(t *testing.T) {
	d := doc(t, "upstreams: {a: {endpoints: [\"127.0.0.1:1\"]}}\nroutes: [{match: /, upstream: a}]")
	g, err := newGateway(d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- g.Run(ctx) }()
	// Once Run runs the pool, the dead endpoint answers 502, not 503.
	waitFor(t, "Run to start", func() bool { return serveOnce(g, "GET", "/").Code == 502 })
	if err := g.Run(context.Background()); !errors.Is(err, bulwark.ErrRunning) {
		t.Fatalf("a second Run = %v, want ErrRunning", err)
	}
	if err := g.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-ran; err != nil {
		t.Fatalf("Run after Close = %v, want nil", err)
	}
	if err := g.Run(context.Background()); !errors.Is(err, bulwark.ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
	if err := g.Reload(d); !errors.Is(err, bulwark.ErrClosed) {
		t.Fatalf("Reload after Close = %v, want ErrClosed", err)
	}
	cancel()

	g2, _ := newGateway(d)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := g2.Run(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run until ctx ends = %v, want the ctx's error", err)
	}
	if err := g2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestZeroGatewayPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "without New") {
			t.Fatalf("recover() = %v", r)
		}
	}()
	var g gateway.Gateway
	_ = g.Run(context.Background())
}
