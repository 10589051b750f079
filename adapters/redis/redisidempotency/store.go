// Package redisidempotency keeps idempotency records in Redis (go-redis/v9),
// for idempotency.Keeper; with idempotency.Inbox it also deduplicates
// consumed messages.
//
//	store, err := redisidempotency.New(client, redisidempotency.Config{})
//	keeper, err := idempotency.New(store, idempotency.Config{})
//
// The Store passes idempotencytest's conformance suite: one winner per
// key, the winner's record for every loser, outcomes byte for byte,
// fencing by token. The zero Config writes keys under the prefix
// "idempotency:". The Store reports no events (the Keeper does).
//
// Each record is a hash under one key, and every operation is one Lua
// script: a claim reads and writes the record atomically on the server, so
// concurrent claims (from any number of processes) never both win, and
// each call is one round trip. Redis deletes a record itself when it
// expires (PEXPIREAT at the record's ExpiresAt), so DeleteExpired has
// nothing to do.
//
// Durability is Redis's: with the default snapshotting a server crash can
// lose the last records, and a retry of a lost key runs again. Use
// appendonly yes (appendfsync everysec or always) where that matters, or
// the PostgreSQL store.
package redisidempotency

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the key prefix of the zero Config.
const DefaultPrefix = "idempotency:"

// Config configures a Store. The zero Config is the default configuration.
type Config struct {
	// Prefix starts every key the store writes, to keep its records apart
	// from other data. "" means DefaultPrefix ("idempotency:").
	Prefix string
}

// DefaultConfig returns the defaults that Config{} stands for, spelled
// out: the prefix "idempotency:".
func DefaultConfig() Config {
	return Config{Prefix: DefaultPrefix}
}

// Store is an idempotency.Store in Redis. It is safe for concurrent use by
// many goroutines and processes.
type Store struct {
	c      redis.Scripter
	prefix string
}

var _ idempotency.Store = (*Store)(nil)

// New returns a Store on client (*redis.Client, *redis.ClusterClient,
// *redis.Ring...), or an error when client is nil. The zero Config is the
// default configuration.
func New(client redis.Scripter, cfg Config) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisidempotency: New needs a client, got nil")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	return &Store{c: client, prefix: cfg.Prefix}, nil
}

// check panics when s was not made by New.
func (s *Store) check() {
	if s == nil || s.c == nil {
		panic("redisidempotency: Store used without New")
	}
}

// key returns the record's key: the prefix, the scope's length, the scope
// and the key, so that no two (scope, key) pairs share a key.
func (s *Store) key(ref idempotency.Ref) string {
	b := make([]byte, 0, len(s.prefix)+len(ref.Scope)+len(ref.Key)+8)
	b = append(b, s.prefix...)
	b = strconv.AppendInt(b, int64(len(ref.Scope)), 10)
	b = append(b, ':')
	b = append(b, ref.Scope...)
	b = append(b, ':')
	b = append(b, ref.Key...)
	return string(b)
}

// Hash fields: fp fingerprint, done "0"/"1", token, attempt, outcome,
// rp recovery point, lease and exp in Unix milliseconds. Tokens stay
// strings in Lua, whose numbers are doubles.
var claimScript = redis.NewScript(`
local k = KEYS[1]
local fp, token, now, lease, exp = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local r = redis.call('HMGET', k, 'fp', 'done', 'token', 'attempt', 'outcome', 'rp', 'lease', 'exp')
if not r[1] or tonumber(r[8]) <= now then
	redis.call('DEL', k)
	redis.call('HSET', k, 'fp', fp, 'done', '0', 'token', token, 'attempt', 1, 'lease', lease, 'exp', exp)
	redis.call('PEXPIREAT', k, exp)
	return {1, fp, token, 1, false, false, lease, exp}
end
if r[2] == '0' and tonumber(r[7]) <= now and r[1] == fp then
	local attempt = tonumber(r[4]) + 1
	redis.call('HSET', k, 'token', token, 'attempt', attempt, 'lease', lease, 'exp', exp)
	redis.call('PEXPIREAT', k, exp)
	return {1, fp, token, attempt, false, r[6], lease, exp}
end
local state = 2
if r[2] == '1' then state = 3 end
return {state, r[1], r[3], tonumber(r[4]), r[5], r[6], r[7], r[8]}
`)

// held is the fence of the scripts below: the record is in progress under
// ARGV[1].
const held = `
local k = KEYS[1]
local r = redis.call('HMGET', k, 'token', 'done', 'exp')
if r[1] ~= ARGV[1] or r[2] ~= '0' then return 0 end
`

var completeScript = redis.NewScript(held + `
redis.call('HSET', k, 'done', '1', 'outcome', ARGV[2], 'exp', ARGV[3])
redis.call('PEXPIREAT', k, ARGV[3])
return 1
`)

var releaseScript = redis.NewScript(held + `
redis.call('DEL', k)
return 1
`)

var checkpointScript = redis.NewScript(held + `
redis.call('HSET', k, 'rp', ARGV[2], 'lease', ARGV[3])
if tonumber(r[3]) < tonumber(ARGV[3]) then
	redis.call('HSET', k, 'exp', ARGV[3])
	redis.call('PEXPIREAT', k, ARGV[3])
end
return 1
`)

func ms(t time.Time) int64 { return t.UnixMilli() }

// Claim implements idempotency.Store.
func (s *Store) Claim(ctx context.Context, c idempotency.Claim) (idempotency.Record, error) {
	s.check()
	res, err := claimScript.Run(ctx, s.c, []string{s.key(c.Ref)},
		c.Fingerprint, c.Token, ms(c.Now), ms(c.LeaseUntil), ms(c.ExpiresAt)).Slice()
	if err != nil {
		return idempotency.Record{}, fmt.Errorf("redisidempotency: claim: %w", err)
	}
	rec, err := parseRecord(res)
	if err != nil {
		return idempotency.Record{}, fmt.Errorf("redisidempotency: claim: %w", err)
	}
	return rec, nil
}

// parseRecord reads the claim script's reply.
func parseRecord(res []any) (idempotency.Record, error) {
	var rec idempotency.Record
	if len(res) != 8 {
		return rec, fmt.Errorf("reply has %d fields, want 8", len(res))
	}
	state, ok1 := res[0].(int64)
	attempt, ok2 := res[3].(int64)
	fp, ok3 := res[1].(string)
	token, err1 := strconv.ParseInt(str(res[2]), 10, 64)
	lease, err2 := strconv.ParseInt(str(res[6]), 10, 64)
	exp, err3 := strconv.ParseInt(str(res[7]), 10, 64)
	if !ok1 || !ok2 || !ok3 || err1 != nil || err2 != nil || err3 != nil || state < 1 || state > 3 {
		return rec, fmt.Errorf("malformed reply %q", res)
	}
	rec.State = idempotency.State(state)
	rec.Attempt = int(attempt)
	rec.Fingerprint = []byte(fp)
	rec.Token = token
	rec.LeaseUntil, rec.ExpiresAt = time.UnixMilli(lease), time.UnixMilli(exp)
	if o, ok := res[4].(string); ok {
		rec.Outcome = []byte(o)
	}
	if p, ok := res[5].(string); ok {
		rec.RecoveryPoint = []byte(p)
	}
	return rec, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func (s *Store) fenced(ctx context.Context, op string, script *redis.Script, ref idempotency.Ref, args ...any) error {
	s.check()
	n, err := script.Run(ctx, s.c, []string{s.key(ref)}, args...).Int()
	if err != nil {
		return fmt.Errorf("redisidempotency: %s: %w", op, err)
	}
	if n == 0 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, ref idempotency.Ref, token int64, outcome []byte, expiresAt time.Time) error {
	return s.fenced(ctx, "complete", completeScript, ref, token, outcome, ms(expiresAt))
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, ref idempotency.Ref, token int64) error {
	return s.fenced(ctx, "release", releaseScript, ref, token)
}

// Checkpoint implements idempotency.Store.
func (s *Store) Checkpoint(ctx context.Context, ref idempotency.Ref, token int64, point []byte, leaseUntil time.Time) error {
	return s.fenced(ctx, "checkpoint", checkpointScript, ref, token, point, ms(leaseUntil))
}

// DeleteExpired implements idempotency.Store. Redis deletes expired
// records itself, so there is nothing left to delete: it returns 0.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	s.check()
	return 0, ctx.Err()
}
