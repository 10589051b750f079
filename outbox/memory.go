package outbox

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
)

// MemoryStore is a Store that keeps messages in memory: for tests, examples
// and single-process programs that accept losing pending messages when the
// process exits. It has no transactions, so Enqueue stores at once. It is
// safe for concurrent use. A MemoryStore made without NewMemoryStore panics
// from every method.
type MemoryStore struct {
	mu        sync.Mutex
	seq       int64
	pending   []*memRow // in enqueue order; rows with gone set are skipped
	gone      int       // rows of pending that were removed
	dead      []*memRow // in enqueue order
	deadKeys  map[string]int
	kept      []*memRow
	listeners map[*func()]struct{}
}

type memRow struct {
	seq         int64
	msg         Message
	attempts    int
	retryAt     time.Time
	lastErr     string
	claim       *memBatch
	publishedAt time.Time
	deadAt      time.Time
	gone        bool
}

var (
	_ Store    = (*MemoryStore)(nil)
	_ Listener = (*MemoryStore)(nil)
	_ Chainer  = (*memBatch)(nil)
)

// check panics on a MemoryStore not made by NewMemoryStore.
func (s *MemoryStore) check() {
	if s == nil || s.deadKeys == nil {
		panic("outbox: MemoryStore used without NewMemoryStore")
	}
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{deadKeys: map[string]int{}, listeners: map[*func()]struct{}{}}
}

// Enqueue stores msgs at once, in order, after Prepare (which fills zero
// IDs, empty keys and zero CreatedAt in msgs), and wakes listening relays.
func (s *MemoryStore) Enqueue(ctx context.Context, msgs ...Message) error {
	s.check()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := Prepare(msgs, time.Now()); err != nil {
		return err
	}
	s.mu.Lock()
	for _, m := range msgs {
		s.seq++
		m.Headers = cloneHeaders(m.Headers)
		m.Payload = slices.Clone(m.Payload)
		s.pending = append(s.pending, &memRow{seq: s.seq, msg: m})
	}
	wake := make([]func(), 0, len(s.listeners))
	for f := range s.listeners {
		wake = append(wake, *f)
	}
	s.mu.Unlock()
	for _, f := range wake {
		f()
	}
	return nil
}

// Listen calls wake once, then after every Enqueue, Replay and Discard,
// until ctx is done.
func (s *MemoryStore) Listen(ctx context.Context, wake func()) error {
	s.check()
	s.mu.Lock()
	s.listeners[&wake] = struct{}{}
	s.mu.Unlock()
	wake()
	<-ctx.Done()
	s.mu.Lock()
	delete(s.listeners, &wake)
	s.mu.Unlock()
	return ctx.Err()
}

// Claim implements Store.
func (s *MemoryStore) Claim(ctx context.Context, req ClaimRequest) (Batch, error) {
	s.check()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req.Limit < 1 {
		return nil, fmt.Errorf("outbox: ClaimRequest.Limit must be at least 1, got %d", req.Limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &memBatch{s: s, leaseUntil: req.Now.Add(req.Lease)}
	const (
		open = iota
		heldElsewhere
		blocked
	)
	state := map[string]int{}
	// A key is held as long as any of its messages is: after a replay a
	// key's oldest message may be free while a later one is claimed.
	for _, r := range s.pending {
		if !r.gone && r.claim != nil && req.Now.Before(r.claim.leaseUntil) {
			state[r.msg.Key] = heldElsewhere
		}
	}
	for _, r := range s.pending {
		if len(b.rows) == req.Limit {
			break
		}
		if r.gone {
			continue
		}
		switch state[r.msg.Key] {
		case heldElsewhere:
			if r.claim == nil || !req.Now.Before(r.claim.leaseUntil) {
				b.contended = true // ready, but its key is held
			}
			continue
		case blocked:
			continue
		}
		switch {
		case r.retryAt.After(req.Now), !req.SkipDeadLetters && s.deadKeys[r.msg.Key] > 0:
			state[r.msg.Key] = blocked
		default:
			r.claim = b
			b.rows = append(b.rows, r)
			b.msgs = append(b.msgs, Claimed{Message: copyMessage(r.msg), Attempts: r.attempts})
		}
	}
	return b, nil
}

type memBatch struct {
	s          *MemoryStore
	rows       []*memRow
	msgs       []Claimed
	leaseUntil time.Time
	contended  bool
	done       bool
}

func (b *memBatch) Messages() []Claimed { return b.msgs }
func (b *memBatch) Contended() bool     { return b.contended }

func (b *memBatch) Finish(ctx context.Context, o Outcome) error {
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.done {
		return fmt.Errorf("outbox: batch already finished or released")
	}
	b.done = true
	if !o.Now.Before(b.leaseUntil) {
		b.releaseLocked()
		return fmt.Errorf("%w: the lease ended at %s", ErrClaimLost, b.leaseUntil.Format(time.RFC3339Nano))
	}
	for _, i := range o.Published {
		r := b.rows[i]
		s.removeLocked(r)
		if o.Keep {
			r.publishedAt = o.Now
			s.kept = append(s.kept, r)
		}
	}
	for _, f := range o.Failed {
		r := b.rows[f.Index]
		r.attempts++
		r.lastErr = f.Error
		if f.Dead {
			s.removeLocked(r)
			r.deadAt = o.Now
			i, _ := slices.BinarySearchFunc(s.dead, r.seq, func(d *memRow, seq int64) int { return cmp.Compare(d.seq, seq) })
			s.dead = slices.Insert(s.dead, i, r)
			s.deadKeys[r.msg.Key]++
		} else {
			r.retryAt = f.RetryAt
		}
	}
	b.releaseLocked()
	s.compactLocked()
	return nil
}

// FinishAndClaim implements Chainer: Finish, then Claim.
func (b *memBatch) FinishAndClaim(ctx context.Context, o Outcome, next ClaimRequest) (Batch, error) {
	if err := b.Finish(ctx, o); err != nil {
		return nil, err
	}
	nb, err := b.s.Claim(ctx, next)
	if err != nil {
		return nil, nil // the outcome is recorded; the caller claims again
	}
	return nb, nil
}

func (b *memBatch) Release(context.Context) error {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	if !b.done {
		b.done = true
		b.releaseLocked()
	}
	return nil
}

func (b *memBatch) releaseLocked() {
	for _, r := range b.rows {
		if r.claim == b {
			r.claim = nil
		}
	}
}

func (s *MemoryStore) removeLocked(r *memRow) {
	r.gone = true
	r.claim = nil
	s.gone++
}

// compactLocked drops removed rows once they are half of pending, keeping
// removal amortised O(1).
func (s *MemoryStore) compactLocked() {
	if s.gone < 64 || s.gone*2 < len(s.pending) {
		return
	}
	s.pending = slices.DeleteFunc(s.pending, func(r *memRow) bool { return r.gone })
	s.gone = 0
}

// Stats implements Store.
func (s *MemoryStore) Stats(ctx context.Context) (Stats, error) {
	s.check()
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Pending: len(s.pending) - s.gone, DeadLetters: len(s.dead)}
	for _, r := range s.pending {
		if !r.gone && (st.Oldest.IsZero() || r.msg.CreatedAt.Before(st.Oldest)) {
			st.Oldest = r.msg.CreatedAt
		}
	}
	return st, nil
}

// DeadLetters implements Store.
func (s *MemoryStore) DeadLetters(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, error) {
	s.check()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.Limit < 1 {
		return nil, fmt.Errorf("outbox: DeadLetterQuery.Limit must be at least 1, got %d", q.Limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DeadLetter
	for _, r := range s.dead {
		if len(out) == q.Limit {
			break
		}
		if r.seq <= q.After || (q.Key != "" && r.msg.Key != q.Key) {
			continue
		}
		out = append(out, DeadLetter{Message: copyMessage(r.msg), Position: r.seq, Attempts: r.attempts, LastError: r.lastErr, DeadAt: r.deadAt})
	}
	return out, nil
}

// Replay implements Store.
func (s *MemoryStore) Replay(ctx context.Context, ids ...uuid.UUID) (int, error) {
	s.check()
	return s.takeDead(ctx, ids, func(r *memRow) {
		r.attempts, r.retryAt, r.lastErr, r.deadAt = 0, time.Time{}, "", time.Time{}
		i, found := slices.BinarySearchFunc(s.pending, r.seq, func(p *memRow, seq int64) int { return cmp.Compare(p.seq, seq) })
		if found { // not compacted away yet
			r.gone = false
			s.gone--
			return
		}
		r.gone = false
		s.pending = slices.Insert(s.pending, i, r)
	})
}

// Discard implements Store.
func (s *MemoryStore) Discard(ctx context.Context, ids ...uuid.UUID) (int, error) {
	s.check()
	return s.takeDead(ctx, ids, func(*memRow) {})
}

func (s *MemoryStore) takeDead(ctx context.Context, ids []uuid.UUID, then func(*memRow)) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	want := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	s.mu.Lock()
	n := 0
	s.dead = slices.DeleteFunc(s.dead, func(r *memRow) bool {
		if !want[r.msg.ID] {
			return false
		}
		n++
		if s.deadKeys[r.msg.Key]--; s.deadKeys[r.msg.Key] == 0 {
			delete(s.deadKeys, r.msg.Key)
		}
		then(r)
		return true
	})
	wake := make([]func(), 0, len(s.listeners))
	for f := range s.listeners {
		wake = append(wake, *f)
	}
	s.mu.Unlock()
	for _, f := range wake {
		f()
	}
	return n, nil
}

// Cleanup implements Store.
func (s *MemoryStore) Cleanup(ctx context.Context, publishedBefore time.Time) (int, error) {
	s.check()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	before := len(s.kept)
	s.kept = slices.DeleteFunc(s.kept, func(r *memRow) bool { return r.publishedAt.Before(publishedBefore) })
	return before - len(s.kept), nil
}

func copyMessage(m Message) Message {
	m.Payload = slices.Clone(m.Payload)
	m.Headers = cloneHeaders(m.Headers)
	return m
}

func cloneHeaders(h map[string]string) map[string]string {
	if h == nil {
		return nil
	}
	c := make(map[string]string, len(h))
	for k, v := range h {
		c[k] = v
	}
	return c
}
