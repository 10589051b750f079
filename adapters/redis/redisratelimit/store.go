package redisratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/redis/go-redis/v9"
)

// Config configures a Store. The zero Config is DefaultConfig.
type Config struct {
	// Prefix starts every key the store writes, to keep its keys apart
	// from other data and from other limiters' keys. "" means
	// "ratelimit:".
	Prefix string
}

// defaultPrefix is the Prefix of the zero Config.
const defaultPrefix = "ratelimit:"

// DefaultConfig returns the defaults a zero Config stands for: the prefix
// "ratelimit:".
func DefaultConfig() Config {
	return Config{Prefix: defaultPrefix}
}

// Store is a ratelimit.Store in Redis: one hash per key, read and written
// by one Lua script per call, so that every process using the same Redis
// and prefix shares one limit per key. It decides as ratelimit.MemoryStore
// does for the same rule, keys and times (see the package doc for two
// corners). It is safe for concurrent use by many goroutines and
// processes; make one with New (the zero Store is not usable: Take
// panics).
type Store struct {
	c       redis.Scripter
	prefix  string
	scripts scripts
}

var _ ratelimit.Store = (*Store)(nil)

// New returns a Store that keeps its state through client (a
// *redis.Client, *redis.ClusterClient, *redis.Ring...), or an error when
// client is nil. Its settings bound how long a call to an unreachable
// Redis takes to fail: see the package doc. Zero fields of cfg take their
// defaults.
func New(client redis.Scripter, cfg Config) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisratelimit: New: client must not be nil")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = defaultPrefix
	}
	return &Store{c: client, prefix: cfg.Prefix, scripts: defaultScripts}, nil
}

// Take implements ratelimit.Store in one round trip to Redis. Its errors
// name the key: an invalid rule, a Redis error (ctx's included), or a
// key whose stored state is not the store's.
func (s *Store) Take(ctx context.Context, key string, rule ratelimit.Rule, now time.Time) (time.Duration, error) {
	if s.c == nil {
		panic("redisratelimit: Store used without New")
	}
	if err := checkRule(rule); err != nil {
		return 0, fmt.Errorf("redisratelimit: key %q: %w", key, err)
	}
	keys := []string{s.prefix + key}
	n, period, limit := now.UnixNano(), int64(rule.Period), int64(rule.Limit)
	ns, nn := split(n)
	var cmd *redis.Cmd
	if rule.Algorithm == ratelimit.SlidingWindow {
		ss, sn := split(n - floorMod(n, period))
		ps, pn := split(period)
		cmd = s.scripts.slidingWindow.Run(ctx, s.c, keys, ns, nn, ss, sn, ps, pn, luaLimit(rule.Limit))
	} else {
		interval := (period + limit - 1) / limit
		is, in := split(interval)
		ts, tn := split(int64(rule.Burst) * interval)
		cmd = s.scripts.tokenBucket.Run(ctx, s.c, keys, ns, nn, is, in, ts, tn)
	}
	reply, err := cmd.Text()
	if err != nil {
		return 0, fmt.Errorf("redisratelimit: key %q: %w", key, err)
	}
	d, err := parseWait(reply)
	if err != nil {
		return 0, fmt.Errorf("redisratelimit: key %q: %w", key, err)
	}
	return d, nil
}

// checkRule rejects the rules ratelimit's limiters never build, so that a
// direct caller gets an error rather than a division by zero.
func checkRule(r ratelimit.Rule) error {
	switch {
	case r.Algorithm != ratelimit.TokenBucket && r.Algorithm != ratelimit.SlidingWindow:
		return fmt.Errorf("Rule.Algorithm must be TokenBucket or SlidingWindow, got %v", r.Algorithm)
	case r.Limit <= 0:
		return fmt.Errorf("Rule.Limit must be > 0, got %d", r.Limit)
	case int64(r.Period) < int64(r.Limit):
		return fmt.Errorf("Rule.Period must be at least Limit nanoseconds, got %v for Limit %d", r.Period, r.Limit)
	case r.Algorithm == ratelimit.TokenBucket && r.Burst <= 0:
		return fmt.Errorf("Rule.Burst must be > 0 for TokenBucket, got %d", r.Burst)
	}
	if r.Algorithm == ratelimit.TokenBucket {
		interval := (int64(r.Period) + int64(r.Limit) - 1) / int64(r.Limit)
		if maxBurst := math.MaxInt64 / 4 / interval; int64(r.Burst) > maxBurst {
			return fmt.Errorf("Rule.Burst must be at most %d for a Period of %v and Limit %d, got %d", maxBurst, r.Period, r.Limit, r.Burst)
		}
	}
	return nil
}

// parseWait reads a script's reply: the wait in nanoseconds, >= 0.
func parseWait(reply string) (time.Duration, error) {
	d, err := strconv.ParseInt(reply, 10, 64)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("malformed reply %q", reply)
	}
	return time.Duration(d), nil
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
