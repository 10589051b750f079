// Package redis holds bulwark's Redis adapters (go-redis/v9), one
// subpackage per pattern: redisidempotency.
package redis
