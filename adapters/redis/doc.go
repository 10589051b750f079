// Package redis holds bulwark's Redis adapters (go-redis/v9), one
// subpackage per pattern: redisidempotency (idempotency records) and
// redisratelimit (a rate limit shared by every process). It is its own
// module, so that only programs that use Redis depend on go-redis.
package redis
