package confirm

import (
	"context"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// session is one channel in confirm mode. A goroutine receives the
// channel's returns and confirmations, both on unbuffered channels, so it
// has recorded a message's return (which the broker sends before the
// message's ack) before it sees the ack.
type session struct {
	ch       *amqp.Channel
	gate     *gate
	frameMax int           // the connection's, negotiated; 0 for no limit
	turn     chan struct{} // a token: held while publishing, so delivery tags are predictable

	mu      sync.Mutex
	waiters map[uint64]*waiter
	byID    map[string][]uint64 // tags in flight, by message ID, oldest first
	dead    bool
	err     error // why the session died
}

// waiter is one publish waiting for its confirmation.
type waiter struct {
	id       string
	done     chan struct{}
	ack      bool
	returned *UnroutableError
	err      error
}

func openSession(conn *amqp.Connection, g *gate) (*session, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, err
	}
	s := &session{ch: ch, gate: g, frameMax: max(conn.Config.FrameSize, 0), turn: make(chan struct{}, 1), waiters: make(map[uint64]*waiter), byID: make(map[string][]uint64)}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation))
	returns := ch.NotifyReturn(make(chan amqp.Return))
	closes := ch.NotifyClose(make(chan *amqp.Error, 1))
	go s.run(confirms, returns, closes)
	return s, nil
}

func (s *session) isDead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

// publish sends msg and returns the waiter for its confirmation.
func (s *session) publish(ctx context.Context, exchange, key string, msg amqp.Publishing) (*waiter, error) {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w (waiting to publish)", ctx.Err())
	}
	defer func() { <-s.turn }()
	tag := s.ch.GetNextPublishSeqNo()
	w := &waiter{id: msg.MessageId, done: make(chan struct{})}
	s.mu.Lock()
	if s.dead {
		err := s.err
		s.mu.Unlock()
		return nil, err
	}
	s.waiters[tag] = w
	s.byID[w.id] = append(s.byID[w.id], tag)
	s.mu.Unlock()
	if err := s.ch.PublishWithContext(ctx, exchange, key, true, false, msg); err != nil {
		s.mu.Lock()
		s.forget(tag, w)
		s.mu.Unlock()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (publishing)", ctx.Err())
		}
		return nil, fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	return w, nil
}

// forget removes tag's waiter; s.mu is held.
func (s *session) forget(tag uint64, w *waiter) {
	delete(s.waiters, tag)
	tags := s.byID[w.id]
	for i, t := range tags {
		if t == tag {
			tags = append(tags[:i], tags[i+1:]...)
			break
		}
	}
	if len(tags) == 0 {
		delete(s.byID, w.id)
	} else {
		s.byID[w.id] = tags
	}
}

// run records returns and resolves confirmations until the channel
// closes, then fails every publish still waiting.
func (s *session) run(confirms <-chan amqp.Confirmation, returns <-chan amqp.Return, closes <-chan *amqp.Error) {
	var cause error
	for confirms != nil || returns != nil {
		select {
		case c, ok := <-confirms:
			if !ok {
				confirms = nil
				continue
			}
			s.mu.Lock()
			if w := s.waiters[c.DeliveryTag]; w != nil {
				s.forget(c.DeliveryTag, w)
				w.ack = c.Ack
				close(w.done)
			}
			s.mu.Unlock()
		case r, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			s.mu.Lock()
			for _, tag := range s.byID[r.MessageId] {
				if w := s.waiters[tag]; w.returned == nil {
					w.returned = &UnroutableError{Exchange: r.Exchange, RoutingKey: r.RoutingKey, Code: r.ReplyCode, Text: r.ReplyText}
					break
				}
			}
			s.mu.Unlock()
		case e, ok := <-closes:
			if !ok {
				closes = nil
			} else if e != nil {
				cause = e
			}
		}
	}
	// The close reason, if any, was sent before the listeners were closed.
	select {
	case e, ok := <-closes:
		if ok && e != nil {
			cause = e
		}
	default:
	}
	err := ErrConnectionLost
	if cause != nil {
		err = fmt.Errorf("%w: %w", ErrConnectionLost, cause)
	}
	s.kill(err)
}

// kill marks the session dead with err and fails every publish waiting for
// a confirmation. It closes the channel, in case it is still open.
func (s *session) kill(err error) {
	s.mu.Lock()
	if !s.dead {
		s.dead, s.err = true, err
	}
	for tag, w := range s.waiters {
		delete(s.waiters, tag)
		w.err = s.err
		close(w.done)
	}
	clear(s.byID)
	s.mu.Unlock()
	_ = s.ch.Close()
}
