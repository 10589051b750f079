package pgeventsource

import (
	"context"
	"sync"
	"time"
)

// announcer sends the NOTIFY that tells listeners of Append's commits. It is
// sent after the commit, as a statement of its own committed
// asynchronously: a NOTIFY inside the append would make PostgreSQL flush
// notifying commits one at a time. Appends do not wait for it: the first
// append after a quiet spell starts a goroutine that sends one NOTIFY, then
// one more for every burst of appends committed meanwhile, and ends as soon
// as none is left to announce (one round trip after the last append).
type announcer struct {
	mu      sync.Mutex
	running bool
	pending bool
}

// announcementTimeout bounds one NOTIFY; a lost one only makes
// subscriptions wait for their next poll.
const announcementTimeout = 5 * time.Second

func (a *announcer) announce(s *Store) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		a.pending = true
		return
	}
	a.running = true
	go a.send(s)
}

func (a *announcer) send(s *Store) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), announcementTimeout)
		_, _ = s.pool.Exec(ctx, s.sql.notify, s.channel)
		cancel()
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
