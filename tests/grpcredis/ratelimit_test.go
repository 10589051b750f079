package grpcredis

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"net"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/grpc/bulwarkgrpc"
	"github.com/bulwark-go/bulwark/adapters/redis/redisratelimit"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// server starts a gRPC server on loopback TCP whose health service is
// limited per api-key by a ratelimit.Keyed on the Redis store, and returns
// a client of it.
func server(t *testing.T, rdb *redis.Client, prefix string) healthpb.HealthClient {
	store, err := redisratelimit.New(rdb, redisratelimit.Config{Prefix: prefix})
	require.NoError(t, err)
	limiter, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{
		Config: ratelimit.Config{Limit: 5, Period: time.Minute, Burst: 5},
		Store:  store,
	})
	require.NoError(t, err)
	rl, err := bulwarkgrpc.NewRateLimiter(limiter, bulwarkgrpc.RateLimiterConfig{Key: bulwarkgrpc.KeyByMetadata("api-key")})
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer(grpc.UnaryInterceptor(rl.UnaryServerInterceptor()))
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// TestRateLimitSharedThroughRedis: two servers share one limit per client
// through Redis; the sixth call of a client, whichever server gets it, is
// refused with RESOURCE_EXHAUSTED and a pushback, while another client is
// served.
func TestRateLimitSharedThroughRedis(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	var b [6]byte
	_, _ = crand.Read(b[:])
	prefix := "grpcredis:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	servers := []healthpb.HealthClient{server(t, rdb, prefix), server(t, rdb, prefix)}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call := func(i int, key string) (metadata.MD, error) {
		var trailer metadata.MD
		_, err := servers[i%2].Check(metadata.AppendToOutgoingContext(ctx, "api-key", key), &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
		return trailer, err
	}
	for i := range 5 {
		_, err := call(i, "alice")
		require.NoError(t, err, "call %d of alice", i+1)
	}
	trailer, err := call(5, "alice")
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "the sixth call of alice, on the other server: %v", err)
	require.NotEmpty(t, trailer.Get("grpc-retry-pushback-ms"), "pushback trailer")
	wait, ok := bulwarkgrpc.ParsePushback(trailer.Get("grpc-retry-pushback-ms")[0])
	require.True(t, ok, "pushback %q", trailer.Get("grpc-retry-pushback-ms"))
	assert.Greater(t, wait, time.Duration(0), "pushback")
	_, err = call(6, "bob")
	assert.NoError(t, err, "another client is served")
}
