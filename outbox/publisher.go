package outbox

import (
	"context"
	"sync"
)

// Publisher delivers messages to a broker. The relay calls Publish for one
// message at a time per key, and for several keys at once.
//
// Publish returns nil only when the broker has accepted the message durably
// (a JetStream publish ack, a Kafka produce ack): the relay then forgets the
// message. Any other error makes the relay try again later, so a Publisher
// may see the same message (same ID) more than once and should pass the ID
// on for the broker or consumer to drop duplicates. Publish must return
// promptly, with an error wrapping ctx.Err(), when ctx is done.
//
// A consumer of what a Publisher published gets back every byte of the
// message's Payload, Key and header values (through the publisher
// package's Decode). A message that does not Validate, or that the broker
// cannot carry as it is (a header over a size limit, a wildcard subject),
// is refused with an error matching ErrInvalidMessage that says why: before
// anything is sent, so that it fails alone and other publishes, concurrent
// or later, are not disturbed. The relay dead-letters such a message at
// once.
//
// Every Publisher in bulwark passes the conformance suite
// outboxtest.RunPublisher.
type Publisher interface {
	Publish(ctx context.Context, msg Message) error
}

// Checker is implemented by Publishers that can tell, without asking the
// broker, that they would refuse a message (see ErrInvalidMessage): Check
// returns the error Publish would return for it, or nil when Publish may
// accept it. Call it before Enqueue to refuse such a message in the
// business transaction, where the caller can still act on the error,
// rather than find it among the dead letters.
type Checker interface {
	Check(msg Message) error
}

// PublisherFunc adapts an ordinary function to the Publisher interface.
type PublisherFunc func(ctx context.Context, msg Message) error

// Publish calls f(ctx, msg).
func (f PublisherFunc) Publish(ctx context.Context, msg Message) error { return f(ctx, msg) }

// MemoryPublisher is a Publisher that keeps what it is given, in order, for
// tests and examples. It is safe for concurrent use. A MemoryPublisher made
// without NewMemoryPublisher panics from every method.
type MemoryPublisher struct {
	mu       sync.Mutex
	messages []Message
	notify   chan struct{}
	made     bool // by NewMemoryPublisher
}

var (
	_ Publisher = (*MemoryPublisher)(nil)
	_ Checker   = (*MemoryPublisher)(nil)
)

// check panics on a MemoryPublisher not made by NewMemoryPublisher.
func (p *MemoryPublisher) check() {
	if p == nil || !p.made {
		panic("outbox: MemoryPublisher used without NewMemoryPublisher")
	}
}

// NewMemoryPublisher returns an empty MemoryPublisher.
func NewMemoryPublisher() *MemoryPublisher {
	return &MemoryPublisher{notify: make(chan struct{}), made: true}
}

// Publish appends a copy of msg to Messages. It fails when ctx is done, and
// with an error matching ErrInvalidMessage when msg does not Validate.
func (p *MemoryPublisher) Publish(ctx context.Context, msg Message) error {
	p.check()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := msg.Validate(); err != nil {
		return err
	}
	msg = copyMessage(msg)
	p.mu.Lock()
	p.messages = append(p.messages, msg)
	close(p.notify)
	p.notify = make(chan struct{})
	p.mu.Unlock()
	return nil
}

// Check returns msg.Validate(): MemoryPublisher refuses nothing else.
func (p *MemoryPublisher) Check(msg Message) error {
	p.check()
	return msg.Validate()
}

// Messages returns a copy of the messages published so far, in the order
// Publish was called.
func (p *MemoryPublisher) Messages() []Message {
	p.check()
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Message(nil), p.messages...)
}

// Len returns the number of messages published so far.
func (p *MemoryPublisher) Len() int {
	p.check()
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.messages)
}

// WaitFor blocks until at least n messages were published or ctx is done,
// and returns ctx.Err() in the latter case.
func (p *MemoryPublisher) WaitFor(ctx context.Context, n int) error {
	p.check()
	for {
		p.mu.Lock()
		have, ch := len(p.messages), p.notify
		p.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
