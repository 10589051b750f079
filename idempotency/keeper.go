package idempotency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// Config configures a Keeper.
type Config struct {
	// Store holds the records. Required.
	Store Store

	// Lease is how long a claim lasts without being completed, released or
	// checkpointed. After it, the holder is presumed dead and a retry may
	// take the key over and run the operation again. Make it longer than
	// the operation ever takes. Must be > 0.
	Lease time.Duration

	// TTL is how long a record is kept after it was claimed or completed:
	// retries within it are answered from the record, after it the key is
	// new again. Must be >= Lease.
	TTL time.Duration

	// Wait bounds how long a duplicate of a request in progress waits for
	// its outcome. Zero (off): duplicates get ErrInProgress at once.
	Wait time.Duration

	// PollInterval is how often a waiting duplicate looks at the record.
	// A duplicate waiting on an attempt of the same Keeper is woken as soon
	// as that attempt completes or releases the key; polling is how it
	// learns of attempts in other processes. Must be > 0.
	PollInterval time.Duration

	// Codec encodes the values Do stores. Nil means JSONCodec.
	Codec Codec

	// Clock tells the time. Nil means clock.System.
	Clock clock.Clock

	// OnReplay, if set, is called when a request gets a stored outcome.
	OnReplay func(ref Ref)

	// OnTakeover, if set, is called when a request takes over a key whose
	// holder's lease ran out; attempt is the new attempt's number (2 or more).
	OnTakeover func(ref Ref, attempt int)
}

// DefaultConfig returns a Config with a 1-minute lease, a 24-hour TTL, no
// waiting and a 50 ms poll interval. Set Store before calling New.
func DefaultConfig() Config {
	return Config{
		Lease:        time.Minute,
		TTL:          24 * time.Hour,
		PollInterval: 50 * time.Millisecond,
	}
}

// Keeper runs operations under idempotency keys: the first request with a
// key runs, every later one with the same key gets the first one's outcome.
// It is safe for concurrent use.
type Keeper struct {
	cfg     Config
	clock   clock.Clock
	codec   Codec
	waiters waiters
}

// New returns a Keeper, or an error naming the first invalid setting.
func New(cfg Config) (*Keeper, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("idempotency: Config.Store must be set")
	case cfg.Lease <= 0:
		return nil, fmt.Errorf("idempotency: Config.Lease must be > 0, got %v", cfg.Lease)
	case cfg.TTL < cfg.Lease:
		return nil, fmt.Errorf("idempotency: Config.TTL must be >= Config.Lease (%v), got %v", cfg.Lease, cfg.TTL)
	case cfg.Wait < 0:
		return nil, fmt.Errorf("idempotency: Config.Wait must be >= 0, got %v", cfg.Wait)
	case cfg.PollInterval <= 0:
		return nil, fmt.Errorf("idempotency: Config.PollInterval must be > 0, got %v", cfg.PollInterval)
	}
	k := &Keeper{cfg: cfg, clock: clock.OrSystem(cfg.Clock), codec: cfg.Codec}
	if k.codec == nil {
		k.codec = JSONCodec{}
	}
	return k, nil
}

// Request identifies one request under an idempotency key.
type Request struct {
	// Scope is the caller's identity or tenant. Records of different scopes
	// never meet, so a client cannot read another's outcome by guessing
	// its key.
	Scope string
	// Key is the idempotency key the client sent. Must not be empty.
	Key string
	// Fingerprint identifies the request's content (a hash of its method,
	// path and body, say). The same key with a different fingerprint gets
	// ErrMismatch. Nil is a fingerprint like any other.
	Fingerprint []byte
}

// now returns the clock's time in whole milliseconds, the precision every
// store keeps.
func (k *Keeper) now() time.Time { return k.clock.Now().Truncate(time.Millisecond) }

// Start claims req's key. When the key is new (or its record expired, or
// was released, or its holder's lease ran out), Start returns an Attempt:
// the caller runs the operation and then calls Complete or Release on it.
// When the key was completed, Start returns a nil Attempt and the stored
// outcome. It returns ErrMismatch for a key used with another fingerprint,
// and ErrInProgress while another attempt holds the key (after waiting up
// to Config.Wait for its outcome).
//
// Most callers use Do, Middleware or Inbox, which call Start for them.
func (k *Keeper) Start(ctx context.Context, req Request) (*Attempt, []byte, error) {
	if req.Key == "" {
		return nil, nil, ErrInvalidKey
	}
	ref := Ref{Scope: req.Scope, Key: req.Key}
	token := rand.Int64()
	for token == 0 {
		token = rand.Int64()
	}
	var (
		deadline time.Time
		wait     *wake // registered once the key is found in progress
	)
	defer func() {
		if wait != nil {
			k.waiters.unwatch(ref, wait)
		}
	}()
	for {
		now := k.now()
		if deadline.IsZero() {
			deadline = now.Add(k.cfg.Wait)
		}
		rec, err := k.cfg.Store.Claim(ctx, Claim{
			Ref:         ref,
			Fingerprint: req.Fingerprint,
			Token:       token,
			Now:         now,
			LeaseUntil:  now.Add(k.cfg.Lease),
			ExpiresAt:   now.Add(k.cfg.TTL),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("idempotency: claiming key %q: %w", req.Key, err)
		}
		if rec.State == Claimed {
			if rec.Attempt > 1 && k.cfg.OnTakeover != nil {
				k.cfg.OnTakeover(ref, rec.Attempt)
			}
			return &Attempt{k: k, ref: ref, token: token, number: rec.Attempt, point: rec.RecoveryPoint}, nil, nil
		}
		if !bytes.Equal(rec.Fingerprint, req.Fingerprint) {
			return nil, nil, ErrMismatch
		}
		if rec.State == Completed {
			if k.cfg.OnReplay != nil {
				k.cfg.OnReplay(ref)
			}
			return nil, rec.Outcome, nil
		}
		remaining := deadline.Sub(now)
		if remaining <= 0 {
			return nil, nil, ErrInProgress
		}
		if wait == nil || isClosed(wait.ch) {
			// Watch, then read the record again before sleeping: a holder
			// settling in between is seen by one or the other.
			if wait != nil {
				k.waiters.unwatch(ref, wait)
			}
			wait = k.waiters.watch(ref)
			continue
		}
		if err := wait.sleep(ctx, k.clock, min(remaining, k.cfg.PollInterval)); err != nil {
			return nil, nil, fmt.Errorf("idempotency: waiting for key %q: %w", req.Key, err)
		}
	}
}

// Cleanup deletes the expired records, in batches, and returns how many it
// deleted. Run it periodically (RunCleanup does), or rely on a store that
// expires records by itself.
func (k *Keeper) Cleanup(ctx context.Context) (int, error) {
	const batch = 1000
	total := 0
	for {
		n, err := k.cfg.Store.DeleteExpired(ctx, k.now(), batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("idempotency: deleting expired records: %w", err)
		}
		if n < batch {
			return total, nil
		}
	}
}

// RunCleanup calls Cleanup every interval until ctx is done, and returns
// ctx's error then. A failed Cleanup is retried at the next interval;
// onError, if not nil, is told about it.
func (k *Keeper) RunCleanup(ctx context.Context, every time.Duration, onError func(error)) error {
	if every <= 0 {
		return fmt.Errorf("idempotency: RunCleanup interval must be > 0, got %v", every)
	}
	for {
		if _, err := k.Cleanup(ctx); err != nil && ctx.Err() == nil && onError != nil {
			onError(err)
		}
		if err := clock.Sleep(ctx, k.clock, every); err != nil {
			return err
		}
	}
}
