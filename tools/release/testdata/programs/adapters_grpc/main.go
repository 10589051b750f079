// release-check: run

// Command grpc reports a circuit breaker's state through gRPC health
// checking: a client, whose calls run through a retry, asks an in-memory
// server for its health before and after a breaker on the server trips.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"

	"github.com/bulwark-go/bulwark/adapters/grpc/bulwarkgrpc"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"
)

func main() {
	ctx := context.Background()
	hs := health.NewServer()
	reporter, err := bulwarkgrpc.NewHealth(hs, "payments", bulwarkgrpc.HealthConfig{})
	if err != nil {
		log.Fatal(err)
	}
	hs.SetServingStatus("payments", healthpb.HealthCheckResponse_SERVING)
	breaker, err := circuitbreaker.New(circuitbreaker.Config{Name: "bank", ConsecutiveFailures: 1, Observer: reporter})
	if err != nil {
		log.Fatal(err)
	}

	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	r, err := retry.New(retry.Config{})
	if err != nil {
		log.Fatal(err)
	}
	unary, err := bulwarkgrpc.UnaryClientInterceptor(r, bulwarkgrpc.ClientConfig{IdempotentMethods: []string{"/grpc.health.v1.Health/*"}})
	if err != nil {
		log.Fatal(err)
	}
	cc, err := grpc.NewClient("passthrough:///payments", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithChainUnaryInterceptor(unary))
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)

	check := func() {
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "payments"})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("payments:", resp.GetStatus())
	}
	check()
	_ = breaker.Do(ctx, func(context.Context) error { return errors.New("bank down") })
	check()
}
