package pgeventsource

import (
	"context"
	"sync"
	"time"
)

// announcer tells listeners of Append's commits. Listen calls of the same
// Store are woken at once, in process. Other processes learn of them from
// a NOTIFY, sent after the commit as a statement of its own committed
// asynchronously: a NOTIFY inside the append would make PostgreSQL flush
// notifying commits one at a time. Appends do not wait for it: the first
// append after a quiet spell starts a goroutine that sends one NOTIFY,
// then, no sooner than announceSpacing later, one more for all the appends
// committed meanwhile, and ends once none is left to announce. Under a
// steady stream of appends that is one NOTIFY per announceSpacing, not one
// per append (each NOTIFY is a transaction: sent back to back they cost as
// much as the appends themselves).
type announcer struct {
	mu        sync.Mutex
	running   bool
	pending   bool
	listeners map[*func()]struct{}
}

const (
	// announcementTimeout bounds one NOTIFY; a lost one only makes other
	// processes' subscriptions wait for their next poll.
	announcementTimeout = 5 * time.Second
	// announceSpacing is the least time between two NOTIFYs: the most an
	// announcement to another process waits behind the previous one.
	announceSpacing = 2 * time.Millisecond
)

// listen calls wake after each commit of Append until the returned
// function is called.
func (a *announcer) listen(wake func()) (stop func()) {
	key := &wake
	a.mu.Lock()
	if a.listeners == nil {
		a.listeners = map[*func()]struct{}{}
	}
	a.listeners[key] = struct{}{}
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		delete(a.listeners, key)
		a.mu.Unlock()
	}
}

// announce wakes the local listeners and has the commit announced to other
// processes.
func (a *announcer) announce(s *Store) {
	a.mu.Lock()
	wakes := make([]func(), 0, len(a.listeners))
	for w := range a.listeners {
		wakes = append(wakes, *w)
	}
	start := !a.running
	if start {
		a.running = true
	} else {
		a.pending = true
	}
	a.mu.Unlock()
	for _, w := range wakes {
		w()
	}
	if start {
		go a.send(s)
	}
}

func (a *announcer) send(s *Store) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), announcementTimeout)
		_, _ = s.pool.Exec(ctx, s.sql.notify, s.channel)
		cancel()
		time.Sleep(announceSpacing)
		a.mu.Lock()
		if !a.pending {
			a.running = false
			a.mu.Unlock()
			return
		}
		a.pending = false
		a.mu.Unlock()
	}
}
