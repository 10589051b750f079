package confirm

import (
	"context"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// gate follows a connection's connection.blocked and connection.unblocked
// notifications: while the broker blocks publishers (a memory or disk
// alarm) it stops reading from the connection, and a publish written then
// could block beyond its context. Publishes wait at the gate instead.
type gate struct {
	mu     sync.Mutex
	open   chan struct{} // closed while publishers may publish
	reason string
}

func watchBlocked(conn *amqp.Connection) *gate {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	blocks := conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	go func() {
		for b := range blocks {
			g.set(b.Active, b.Reason)
		}
		g.set(false, "") // the connection closed: let waiters find out
	}()
	return g
}

func (g *gate) set(blocked bool, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		if blocked {
			g.open, g.reason = make(chan struct{}), reason
		}
	default:
		if !blocked {
			close(g.open)
		}
	}
}

// wait returns once publishers may publish, or with ctx's error.
func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	open, reason := g.open, g.reason
	g.mu.Unlock()
	select {
	case <-open:
		return nil
	default:
	}
	select {
	case <-open:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w (the broker blocks publishers: %s)", ctx.Err(), reason)
	}
}

// Blocked reports whether the broker blocks the publisher's connection, for
// tests.
func (p *Publisher) Blocked() bool {
	p.mu.Lock()
	g := p.gate
	p.mu.Unlock()
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		return false
	default:
		return true
	}
}
