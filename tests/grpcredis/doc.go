// Package grpcredis holds the test that bulwarkgrpc's server rate limiter
// holds one limit across servers when its ratelimit.Keyed keeps its state in
// Redis (redisratelimit).
package grpcredis
