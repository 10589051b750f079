package idempotency

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// The defaults of Config's zero fields.
const (
	DefaultLease        = time.Minute
	DefaultTTL          = 24 * time.Hour
	DefaultPollInterval = 50 * time.Millisecond
)

// Config configures a Keeper. Every zero field means the default its
// comment names, so Config{} is the default configuration. Stores keep
// whole milliseconds: a lease or a record ends at the whole millisecond at
// or before Lease or TTL from the time it starts.
type Config struct {
	// Name identifies the Keeper in its events. Optional.
	Name string

	// Observer receives the Keeper's events (Replayed, TakenOver). Nil
	// observes nothing.
	Observer bulwark.Observer

	// Lease is how long a claim lasts without being completed, released or
	// checkpointed. After it, the holder is presumed dead and a retry may
	// take the key over and run the operation again. Make it longer than
	// the operation ever takes. 0 means DefaultLease (1 minute); otherwise
	// at least 1ms (stores keep whole milliseconds).
	Lease time.Duration

	// TTL is how long a record is kept after it was claimed or completed:
	// retries within it are answered from the record, after it the key is
	// new again. 0 means DefaultTTL (24 hours); otherwise at least 1ms. It
	// must be at least the Lease.
	TTL time.Duration

	// Wait bounds how long a duplicate of a request in progress waits for
	// its outcome. 0, the default, does not wait: duplicates get
	// ErrInProgress at once. Must not be negative.
	Wait time.Duration

	// PollInterval is how often a waiting duplicate looks at the record.
	// A duplicate waiting on an attempt of the same Keeper is woken as soon
	// as that attempt completes or releases the key; polling is how it
	// learns of attempts in other processes. 0 means DefaultPollInterval
	// (50ms); otherwise at least 1ms.
	PollInterval time.Duration

	// Codec encodes the values Do stores. Nil means JSONCodec.
	Codec Codec

	// Clock tells the time. Nil means clock.System.
	Clock clock.Clock
}

// DefaultConfig returns the defaults that Config{} stands for, spelled
// out: a 1-minute lease, a 24-hour TTL, no waiting, a 50ms poll interval,
// JSON outcomes and the system clock.
func DefaultConfig() Config {
	return Config{
		Lease:        DefaultLease,
		TTL:          DefaultTTL,
		PollInterval: DefaultPollInterval,
		Codec:        JSONCodec{},
		Clock:        clock.System,
	}
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.Lease = cmp.Or(c.Lease, d.Lease)
	c.TTL = cmp.Or(c.TTL, d.TTL)
	c.PollInterval = cmp.Or(c.PollInterval, d.PollInterval)
	c.Codec = cmp.Or(c.Codec, d.Codec)
	c.Clock = cmp.Or(c.Clock, d.Clock)
	return c
}

// validate checks a Config whose defaults were filled in.
func (c Config) validate(given Config) error {
	if err := atLeastMillisecond("Config.Lease", given.Lease, DefaultLease); err != nil {
		return err
	}
	if err := atLeastMillisecond("Config.TTL", given.TTL, DefaultTTL); err != nil {
		return err
	}
	if err := atLeastMillisecond("Config.PollInterval", given.PollInterval, DefaultPollInterval); err != nil {
		return err
	}
	if c.TTL < c.Lease {
		return fmt.Errorf("idempotency: Config.TTL must be at least Config.Lease (%v), got %v", c.Lease, c.TTL)
	}
	if c.Wait < 0 {
		return fmt.Errorf("idempotency: Config.Wait must be >= 0 (0: duplicates do not wait), got %v", c.Wait)
	}
	return nil
}

// atLeastMillisecond checks a duration setting whose zero means def.
func atLeastMillisecond(field string, d, def time.Duration) error {
	if d != 0 && d < time.Millisecond {
		return fmt.Errorf("idempotency: %s must be 0 (meaning %v) or at least 1ms, got %v", field, def, d)
	}
	return nil
}

// Keeper runs operations under idempotency keys: the first request with a
// key runs, every later one with the same key gets the first one's outcome.
// It is safe for concurrent use.
type Keeper struct {
	store   Store
	cfg     Config // defaults filled in
	waiters waiters
}

// New returns a Keeper over store, or an error naming the first invalid
// setting of cfg. The zero Config is the default configuration.
func New(store Store, cfg Config) (*Keeper, error) {
	if store == nil {
		return nil, errors.New("idempotency: New needs a store, got nil")
	}
	full := cfg.withDefaults()
	if err := full.validate(cfg); err != nil {
		return nil, err
	}
	return &Keeper{store: store, cfg: full}, nil
}

// check panics when k was not made by New.
func (k *Keeper) check() {
	if k == nil || k.store == nil {
		panic("idempotency: Keeper used without New")
	}
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
func (k *Keeper) now() time.Time { return k.cfg.Clock.Now().Truncate(time.Millisecond) }

// after returns the whole millisecond d after now, rounded down: the times
// a store is given are whole milliseconds, so that every store keeps them
// exactly (PostgreSQL would round a sub-millisecond part to microseconds).
func after(now time.Time, d time.Duration) time.Time { return now.Add(d).Truncate(time.Millisecond) }

// Start claims req's key. When the key is new (or its record expired, or
// was released, or its holder's lease ran out), Start returns an Attempt:
// the caller runs the operation and then calls Complete or Release on it.
// When the key was completed, Start returns a nil Attempt and the stored
// outcome, and reports Replayed. It returns ErrMismatch for a key used with
// another fingerprint, and an *InProgressError (matching ErrInProgress)
// while another attempt holds the key, after waiting up to Config.Wait for
// its outcome.
//
// Most callers use Do, Inbox or bulwarkhttp's Idempotency middleware, which
// call Start for them.
func (k *Keeper) Start(ctx context.Context, req Request) (*Attempt, []byte, error) {
	k.check()
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
		rec, err := k.store.Claim(ctx, Claim{
			Ref:         ref,
			Fingerprint: req.Fingerprint,
			Token:       token,
			Now:         now,
			LeaseUntil:  after(now, k.cfg.Lease),
			ExpiresAt:   after(now, k.cfg.TTL),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("idempotency: claiming key %q: %w", req.Key, err)
		}
		if rec.State == Claimed {
			if rec.Attempt > 1 && k.cfg.Observer != nil {
				k.cfg.Observer.Observe(ctx, TakenOver{Name: k.cfg.Name, Ref: ref, Attempt: rec.Attempt})
			}
			return &Attempt{k: k, ref: ref, token: token, number: rec.Attempt, point: rec.RecoveryPoint}, nil, nil
		}
		if !bytes.Equal(rec.Fingerprint, req.Fingerprint) {
			return nil, nil, ErrMismatch
		}
		if rec.State == Completed {
			if k.cfg.Observer != nil { // (an event boxed for no one would allocate)
				k.cfg.Observer.Observe(ctx, Replayed{Name: k.cfg.Name, Ref: ref})
			}
			return nil, rec.Outcome, nil
		}
		remaining := deadline.Sub(now)
		if remaining <= 0 {
			return nil, nil, &InProgressError{Ref: ref, Wait: max(rec.LeaseUntil.Sub(now), time.Millisecond)}
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
		if err := wait.sleep(ctx, k.cfg.Clock, min(remaining, k.cfg.PollInterval)); err != nil {
			return nil, nil, fmt.Errorf("idempotency: waiting for key %q: %w", req.Key, err)
		}
	}
}

// cleanupBatch is how many records Cleanup deletes per call to the store.
const cleanupBatch = 1000

// Cleanup deletes the expired records, in batches, and returns how many it
// deleted. A Cleaner runs it periodically; a store that expires records by
// itself (Redis) needs neither.
func (k *Keeper) Cleanup(ctx context.Context) (int, error) {
	k.check()
	return Cleanup(ctx, k.store, k.now())
}
