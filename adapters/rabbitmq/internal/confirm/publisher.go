// Package confirm publishes to RabbitMQ with publisher confirms and the
// mandatory flag, on a connection it opens itself and opens again after it
// dies. rabbitoutbox and rabbitdlq publish through it.
package confirm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Dialer opens a connection. It must return promptly when ctx is done.
type Dialer func(ctx context.Context) (*amqp.Connection, error)

// DialURL returns a Dialer for an AMQP URL whose TCP connect and handshake
// end when ctx is done (and after 30 s at most).
func DialURL(url string) Dialer {
	return func(ctx context.Context) (*amqp.Connection, error) {
		var (
			mu   sync.Mutex
			stop func() bool // stops closing the socket when ctx ends
		)
		conn, err := amqp.DialConfig(url, amqp.Config{
			Properties: amqp.Table{"connection_name": "bulwark"},
			Dial: func(network, addr string) (net.Conn, error) {
				d := net.Dialer{Timeout: 30 * time.Second}
				c, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				deadline := time.Now().Add(30 * time.Second)
				if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
					deadline = d
				}
				if err := c.SetDeadline(deadline); err != nil {
					c.Close()
					return nil, err
				}
				mu.Lock()
				stop = context.AfterFunc(ctx, func() { c.Close() })
				mu.Unlock()
				return c, nil
			},
		})
		mu.Lock()
		cut := stop != nil && !stop()
		mu.Unlock()
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("%w (%w)", ctx.Err(), err)
		case err != nil && expired(ctx):
			// The socket's deadline, which is ctx's, passed just before ctx
			// noticed.
			return nil, fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
		case err != nil:
			return nil, err
		case cut:
			conn.Close()
			return nil, ctx.Err()
		}
		return conn, nil
	}
}

func expired(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// Publisher publishes messages and waits for the broker's confirmation. It
// is safe for concurrent use: publishes share one channel, so messages
// published one after another arrive in a queue in that order.
type Publisher struct {
	dial    Dialer
	name    string // error prefix: "rabbitoutbox", "rabbitdlq"
	maxBody int    // the largest body Publish sends; 0 for no limit

	mu         sync.Mutex
	conn       *amqp.Connection
	gate       *gate // conn's
	sess       *session
	connecting chan struct{} // closed when the dial under way ends
	closed     bool
}

// New returns a Publisher that connects with dial on first use and refuses
// bodies over maxBody bytes (0 for no limit).
func New(name string, dial Dialer, maxBody int) *Publisher {
	return &Publisher{dial: dial, name: name, maxBody: maxBody}
}

// DefaultMaxBody is the largest body a Publisher sends unless told
// otherwise: RabbitMQ 4's default max_message_size (16 MiB). The broker
// closes the channel on a larger one, failing every publish in flight on
// it.
const DefaultMaxBody = 16 << 20

// defaultFrameMax is the frame_max Check assumes before the first
// connection: RabbitMQ's default, which amqp091 also asks for.
const defaultFrameMax = 131072

// Check returns the error, wrapping ErrInvalid, that Publish would return
// for msg without sending it: with the frame_max of the connection in use,
// or of RabbitMQ's default (128 KiB) before the first one.
func (p *Publisher) Check(exchange, key string, msg amqp.Publishing) error {
	frameMax := defaultFrameMax
	p.mu.Lock()
	if p.sess != nil {
		frameMax = p.sess.frameMax
	}
	p.mu.Unlock()
	return check(exchange, key, msg, frameMax, p.maxBody)
}

// Publish publishes msg, mandatory, to exchange with key, and returns nil
// once the broker has confirmed it. A returned message fails with an
// *UnroutableError, a nack with ErrNacked, a channel or connection that
// closes first with ErrConnectionLost (the next Publish reconnects), and a
// done ctx with ctx's error, promptly. A message that cannot be sent as it
// is (see check) fails with an error wrapping ErrInvalid before anything
// is written, so that it disturbs no other publish. While the broker
// blocks publishers (a resource alarm), Publish waits for it to unblock
// before writing.
func (p *Publisher) Publish(ctx context.Context, exchange, key string, msg amqp.Publishing) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var w *waiter
	for try := 0; ; try++ {
		s, err := p.session(ctx)
		if err != nil {
			return err
		}
		if err := check(exchange, key, msg, s.frameMax, p.maxBody); err != nil {
			return err
		}
		if err := s.gate.wait(ctx); err != nil {
			return err
		}
		w, err = s.publish(ctx, exchange, key, msg)
		if err == nil {
			break
		}
		// The message was not sent: a channel that died before its
		// session noticed is replaced once.
		if !errors.Is(err, ErrConnectionLost) || try > 0 {
			return err
		}
		s.kill(err)
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		return fmt.Errorf("%w (waiting for the broker's confirmation)", ctx.Err())
	}
	switch {
	case w.returned != nil:
		return w.returned
	case w.err != nil:
		return w.err
	case !w.ack:
		return ErrNacked
	}
	return nil
}

// Close closes the connection; publishes waiting for a confirmation fail
// with ErrConnectionLost, later ones with ErrClosed.
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	conn := p.conn
	p.conn, p.gate, p.sess = nil, nil, nil
	p.mu.Unlock()
	if conn == nil || conn.IsClosed() {
		return nil
	}
	if err := conn.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("%s: closing the connection: %w", p.name, err)
	}
	return nil
}

// Connection returns the connection in use, nil when there is none: for
// tests that cut it.
func (p *Publisher) Connection() *amqp.Connection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn
}

// Channel returns the channel in use, nil when there is none: for tests
// that close it.
func (p *Publisher) Channel() *amqp.Channel {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sess == nil {
		return nil
	}
	return p.sess.ch
}

// session returns a live session, opening a channel (and a connection,
// when the last one died) if needed. One caller dials at a time; the others
// wait for it or for their ctx.
func (p *Publisher) session(ctx context.Context) (*session, error) {
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if p.sess != nil && !p.sess.isDead() && !p.sess.ch.IsClosed() {
			s := p.sess
			p.mu.Unlock()
			return s, nil
		}
		if p.connecting == nil {
			break
		}
		wait := p.connecting
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (waiting for a connection)", ctx.Err())
		}
		p.mu.Lock()
	}
	done := make(chan struct{})
	p.connecting = done
	conn, g := p.conn, p.gate
	p.mu.Unlock()

	s, conn, g, err := p.open(ctx, conn, g)

	p.mu.Lock()
	defer p.mu.Unlock()
	p.connecting = nil
	close(done)
	if p.closed {
		if conn != nil {
			conn.Close()
		}
		return nil, ErrClosed
	}
	p.conn, p.gate = conn, g
	if err != nil {
		return nil, err
	}
	p.sess = s
	return s, nil
}

// open opens a confirming channel on conn, first dialing a new connection
// if conn is nil or closed. It returns the connection it used and its gate
// (nil if none is open).
func (p *Publisher) open(ctx context.Context, conn *amqp.Connection, g *gate) (*session, *amqp.Connection, *gate, error) {
	if conn != nil && conn.IsClosed() {
		conn = nil
	}
	if conn == nil {
		c, err := p.dial(ctx)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: connecting to RabbitMQ: %w", p.name, err)
		}
		conn, g = c, watchBlocked(c)
	}
	s, err := openSession(conn, g)
	if err != nil {
		// A connection that cannot open a channel is of no use.
		conn.Close()
		return nil, nil, nil, fmt.Errorf("%s: opening a channel: %w", p.name, err)
	}
	return s, conn, g, nil
}
