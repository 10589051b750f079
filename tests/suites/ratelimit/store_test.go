package ratelimit_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/ratelimit"
)

// server is a key-value server's memory: each key's state as an encoded
// record.
type server struct {
	mu      sync.Mutex
	records map[string][]byte
}

func newServer() *server { return &server{records: map[string][]byte{}} }

// update replaces key's record (nil when it has none) with what fn returns
// for it, atomically, as a script run on the server would: no other
// update of the key comes between the read and the write. When fn fails
// the record is left as it was.
func (s *server) update(key string, fn func(rec []byte) ([]byte, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := fn(s.records[key])
	if err != nil {
		return err
	}
	s.records[key] = rec
	return nil
}

// get and put are a read and a write in round trips of their own (the
// "read-then-write" flaw).
func (s *server) get(key string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records[key]
}

func (s *server) put(key string, rec []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[key] = rec
}

// store is a ratelimit.Store on a server: every Take reads the key's
// record, decides the call on it and writes it back, in one update.
// Stores on one server share one limit per key. flaw names one deliberate
// defect ("" for none).
type store struct {
	srv  *server
	flaw string
}

// state is a key's record, decoded. Times are Unix nanoseconds. The zero
// state, which a key without a record has (but for latest), is a full
// bucket and an empty window.
type state struct {
	// latest is the latest time a call for the key was decided at.
	latest int64
	// tat is, for TokenBucket, the theoretical arrival time of the generic
	// cell rate algorithm: when the bucket is full again.
	tat int64
	// start is, for SlidingWindow, the start of the current fixed window;
	// prev and curr count the calls permitted in the window before it and
	// in it.
	start, prev, curr int64
}

var errCorrupt = errors.New("kvstore: corrupt record")

// decode reads a record written by encode; a key without one has no
// latest time yet.
func decode(rec []byte) (state, error) {
	if rec == nil {
		return state{latest: math.MinInt64}, nil
	}
	var f [5]int64
	for i := range f {
		v, n := binary.Varint(rec)
		if n <= 0 {
			return state{}, errCorrupt
		}
		f[i], rec = v, rec[n:]
	}
	if len(rec) != 0 {
		return state{}, errCorrupt
	}
	return state{latest: f[0], tat: f[1], start: f[2], prev: f[3], curr: f[4]}, nil
}

func (st state) encode() []byte {
	rec := make([]byte, 0, 5*binary.MaxVarintLen64)
	for _, v := range []int64{st.latest, st.tat, st.start, st.prev, st.curr} {
		rec = binary.AppendVarint(rec, v)
	}
	return rec
}

// Take implements ratelimit.Store. A rejected call moves only the key's
// latest time. It fails when ctx is done, when the rule lacks a positive
// Limit, Period or (for TokenBucket) Burst, and on a corrupt record.
func (s *store) Take(ctx context.Context, key string, rule ratelimit.Rule, now time.Time) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("kvstore: %w", err)
	}
	if rule.Limit < 1 || rule.Period <= 0 || rule.Algorithm == ratelimit.TokenBucket && rule.Burst < 1 {
		return 0, fmt.Errorf("kvstore: invalid rule %+v", rule)
	}
	var wait int64
	decide := func(rec []byte) ([]byte, error) {
		st, err := decode(rec)
		if err != nil {
			return nil, err
		}
		// A call that raced here behind a later one is decided at the
		// later time.
		st.latest = max(st.latest, now.UnixNano())
		at := st.latest
		if s.flaw == "decides-at-given-time" {
			at = now.UnixNano()
		}
		switch rule.Algorithm {
		case ratelimit.TokenBucket:
			wait = s.takeToken(&st, rule, at)
		case ratelimit.SlidingWindow:
			wait = s.takeSlot(&st, rule, at)
		default:
			return nil, fmt.Errorf("kvstore: unknown algorithm %v", rule.Algorithm)
		}
		return st.encode(), nil
	}
	if s.flaw == "read-then-write" {
		st, err := decide(s.srv.get(key))
		if err != nil {
			return 0, err
		}
		runtime.Gosched() // the round trip between the read and the write
		s.srv.put(key, st)
	} else if err := s.srv.update(key, decide); err != nil {
		return 0, err
	}
	if s.flaw == "millisecond-waits" {
		wait = (wait + int64(time.Millisecond) - 1) / int64(time.Millisecond) * int64(time.Millisecond)
	}
	return time.Duration(wait), nil
}

// takeToken applies the generic cell rate algorithm at t: a call is
// permitted once t reaches tat less the burst's tolerance, less one
// interval (the call's own token). It returns 0, having moved tat one
// interval on, or the wait until a call would be permitted.
func (s *store) takeToken(st *state, rule ratelimit.Rule, t int64) int64 {
	// One token per interval, rounded up so that the rate never exceeds
	// Limit per Period.
	interval := (int64(rule.Period) + int64(rule.Limit) - 1) / int64(rule.Limit)
	tolerance := int64(rule.Burst) * interval
	tat := max(st.tat, t) // a bucket refills to full, never beyond
	if s.flaw == "refills-past-burst" && st.tat != 0 {
		tat = st.tat
	}
	if allowed := tat + interval - tolerance; t < allowed {
		if s.flaw == "records-rejections" {
			st.tat = tat + interval
		}
		return allowed - t
	}
	st.tat = tat + interval
	return 0
}

// takeSlot applies the sliding window at t: the calls of the current fixed
// window, plus the previous window's weighted by the share of it the
// sliding window still covers, plus this call, may not exceed Limit. It
// returns 0, having counted the call, or the wait until a call would be
// permitted.
func (s *store) takeSlot(st *state, rule ratelimit.Rule, t int64) int64 {
	p, limit := int64(rule.Period), int64(rule.Limit)
	start := t - ((t%p)+p)%p // fixed windows start at multiples of p since the epoch
	if s.flaw == "windows-from-first-call" {
		start = t
		if st.start != 0 {
			start = st.start + (t-st.start)/p*p
		}
	}
	switch {
	case start <= st.start:
		// The same window; or, after the period changed, a window that
		// began before the stored one: keep counting in that.
	case start-st.start <= p:
		// The next window (or, after the period changed, one that began
		// less than a period after the stored one).
		st.start, st.prev, st.curr = start, st.curr, 0
	default:
		st.start, st.prev, st.curr = start, 0, 0
	}
	if s.flaw == "fixed-window" {
		st.prev = 0
	}
	left := p - min(max(t-st.start, 0), p) // how much of the previous window still counts
	room := limit - st.curr - 1            // the calls the previous window may weigh, after this one
	if room >= 0 && !greater(st.prev, left, room, p) {
		st.curr++
		return 0
	}
	if s.flaw == "records-rejections" {
		st.curr++
	}
	if room < 0 {
		// The window is full: the next one has room once this window's
		// calls weigh at most Limit-1 there, when at most
		// (Limit-1)×p/curr of it is left.
		return st.start + p + p - quotient(limit-1, p, st.curr) - t
	}
	// The previous window's calls weigh too much until at most room×p/prev
	// of it is left.
	return st.start + p - quotient(room, p, st.prev) - t
}

// greater reports whether a×b > c×d, for non-negative arguments.
func greater(a, b, c, d int64) bool {
	hi1, lo1 := bits.Mul64(uint64(a), uint64(b))
	hi2, lo2 := bits.Mul64(uint64(c), uint64(d))
	return hi1 > hi2 || hi1 == hi2 && lo1 > lo2
}

// quotient returns ⌊a×b/c⌋ for non-negative a and b and positive c, when
// it is less than b.
func quotient(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}
