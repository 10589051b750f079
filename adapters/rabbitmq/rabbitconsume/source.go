package rabbitconsume

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/confirm"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/retry"
	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultPrefetch is Config.Prefetch when it is 0: consume's default
// Config.MaxPending.
const DefaultPrefetch = 256

// DefaultRetryTiers returns the retry queues' delays used when
// Config.RetryTiers is nil: 10ms, 20ms, 50ms, 100ms, 200ms, 500ms, 1s, 2s,
// 5s, 10s, 20s, 30s, 1m, 2m, 5m, 10m, 20m, 30m, 1h, 2h, 5h, 10h and 24h.
func DefaultRetryTiers() []time.Duration {
	return []time.Duration{
		10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 24 * time.Hour,
	}
}

// The limits of the settings.
const (
	// maxTier is RabbitMQ's largest x-message-ttl, 2^32-1 ms (about 49
	// days).
	maxTier = (1<<32 - 1) * time.Millisecond
	// maxQueueName leaves room in AMQP's 255 bytes for the longest retry
	// queue suffix, ".retry." and 10 digits and "ms".
	maxQueueName = 255 - len(".retry.") - 10 - len("ms")
)

// Binding binds the Source's queue to an exchange with a routing key.
type Binding struct {
	// Exchange is the exchange's name; it must exist (the Source declares
	// no exchange) and may not be "" (the default exchange, which routes to
	// every queue by name, takes no bindings).
	Exchange string
	// Key is the binding key ("#" for everything on a topic exchange).
	Key string
}

// Config configures a Source. Set URL or Dial, and Queue; every other zero
// field means its default.
type Config struct {
	// URL is the broker's AMQP URL (amqp://user:pass@host:5672/vhost); ""
	// with no Dial means rabbitmq.DefaultURL, a broker on this machine.
	URL string
	// Dial, instead of URL, opens a connection (for TLS or other
	// settings); it must return promptly when ctx is done. The Source
	// calls it for each connection it opens (see the package doc) and
	// closes them itself.
	Dial func(ctx context.Context) (*amqp.Connection, error)
	// Queue is the queue to consume, at most 236 bytes (its retry queues'
	// names add up to 19). Required.
	Queue string
	// QueueArgs are the arguments the queue is declared with
	// (x-queue-type, x-single-active-consumer, …); nil for none. RabbitMQ
	// refuses to declare a queue that exists with other arguments, and
	// Receive fails with its PRECONDITION_FAILED error.
	QueueArgs amqp.Table
	// Passive, when true, only checks that Queue exists (it was declared
	// by someone else, with arguments of theirs) instead of declaring it;
	// a missing queue fails Receive with NOT_FOUND. Bindings and retry
	// queues are declared either way.
	Passive bool
	// Bindings bind Queue to exchanges, declared on every connection; nil
	// for none (a queue published to through the default exchange, by
	// name).
	Bindings []Binding
	// DeadLetterQueue, when set, names a queue declared (durable, without
	// arguments) with the rest of the topology, for a rabbitdlq.Sink made
	// with SinkConfig to keep the Consumer's dead letters in; "" declares
	// none. At most 255 bytes.
	DeadLetterQueue string
	// Prefetch is how many unacknowledged messages the broker sends ahead
	// (basic.qos), in [1, 65535]; 0 means DefaultPrefetch (256). It must be
	// at least the Consumer's consume.Config.MaxPending: the Consumer holds
	// messages unacknowledged while they wait for an earlier message of
	// their key, and with fewer the broker would stop sending while other
	// keys could have run, until those waits end. Receive refuses to be
	// asked for more than Prefetch messages at once, which a Consumer with
	// a larger MaxPending does on its first call, so Run fails at once with
	// an error that says so.
	Prefetch int
	// RetryTiers are the delays of the retry queues Redeliver uses,
	// increasing, each a whole number of milliseconds in [1ms, 2^32-1 ms];
	// nil means DefaultRetryTiers() (an empty, non-nil slice is refused).
	// A delay is rounded up to the first
	// tier at least as long, and one longer than the last tier waits the
	// last tier.
	RetryTiers []time.Duration
	// RetryQueueArgs are arguments added to every retry queue's
	// declaration; nil for none. RabbitMQ moves an expired message from a
	// classic retry queue into Queue at most once (a broker failure at
	// that moment loses it); for a move that survives one, make them
	// quorum queues that dead-letter at least once:
	//
	//	amqp.Table{"x-queue-type": "quorum", "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
	//
	// It may not hold x-message-ttl, x-dead-letter-exchange or
	// x-dead-letter-routing-key, which the Source sets.
	RetryQueueArgs amqp.Table
	// ReconnectBackoff chooses the wait before each new attempt to
	// connect after a connection failed or was lost; nil means
	// retry.Exponential{Initial: 100ms, Jitter: retry.EqualJitter}.
	ReconnectBackoff retry.Backoff
	// MaxReconnectDelay caps ReconnectBackoff's waits, >= 0; 0 means 5s.
	MaxReconnectDelay time.Duration
	// Name names the Source in its events.
	Name string
	// Observer receives the Source's events (ConnectionLost,
	// ConnectFailed); nil for none.
	Observer bulwark.Observer
	// Clock times the waits between connection attempts; nil means the
	// system clock.
	Clock clock.Clock
}

// DefaultConfig returns the defaults that the zero fields of a Config
// stand for. URL (or Dial) and Queue are still to be set.
func DefaultConfig() Config {
	return Config{
		Prefetch:          DefaultPrefetch,
		RetryTiers:        DefaultRetryTiers(),
		ReconnectBackoff:  retry.Exponential{Initial: 100 * time.Millisecond, Jitter: retry.EqualJitter},
		MaxReconnectDelay: 5 * time.Second,
	}
}

// RetryQueueName returns the name of queue's retry queue for the delay
// tier: queue + ".retry." + the tier in milliseconds + "ms"
// ("orders.retry.500ms").
func RetryQueueName(queue string, tier time.Duration) string {
	return queue + ".retry." + strconv.FormatInt(tier.Milliseconds(), 10) + "ms"
}

// Source is a consume.Source that consumes one RabbitMQ queue. Hand it to
// consume.New; the Consumer calls its methods. A Source made without New
// panics from every method.
type Source struct {
	cfg  Config
	dial confirm.Dialer
	pub  *confirm.Publisher // publishes retries, on a connection of its own

	done chan struct{} // closed by Close

	mu     sync.Mutex
	conn   *amqp.Connection // consumes; nil before the first and after Close
	sess   *session         // the channel Receive takes deliveries from
	tiers  map[time.Duration]bool
	closed bool
}

// session is one consuming channel.
type session struct {
	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
	closes     <-chan *amqp.Error
}

var _ consume.Source = (*Source)(nil)

// New returns a Source, or an error naming the first invalid setting. It
// connects on the first Receive.
func New(cfg Config) (*Source, error) {
	dial, err := confirm.ChooseDialer("rabbitconsume", "Config", cfg.URL, cfg.Dial)
	if err != nil {
		return nil, err
	}
	if cfg.Queue == "" || len(cfg.Queue) > maxQueueName {
		return nil, fmt.Errorf("rabbitconsume: Config.Queue must be 1 to %d bytes, got %d", maxQueueName, len(cfg.Queue))
	}
	if len(cfg.DeadLetterQueue) > 255 || cfg.DeadLetterQueue == cfg.Queue {
		return nil, fmt.Errorf("rabbitconsume: Config.DeadLetterQueue must be at most 255 bytes and not Config.Queue, got %.64q", cfg.DeadLetterQueue)
	}
	for i, b := range cfg.Bindings {
		if b.Exchange == "" || len(b.Exchange) > 255 {
			return nil, fmt.Errorf("rabbitconsume: Config.Bindings[%d].Exchange must be 1 to 255 bytes, got %d", i, len(b.Exchange))
		}
		if len(b.Key) > 255 {
			return nil, fmt.Errorf("rabbitconsume: Config.Bindings[%d].Key must be at most 255 bytes, got %d", i, len(b.Key))
		}
	}
	def := DefaultConfig()
	if cfg.Prefetch < 0 || cfg.Prefetch > 65535 {
		return nil, fmt.Errorf("rabbitconsume: Config.Prefetch must be 0 (meaning %d) or in [1, 65535], got %d", DefaultPrefetch, cfg.Prefetch)
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = def.Prefetch
	}
	if cfg.RetryTiers == nil {
		cfg.RetryTiers = def.RetryTiers
	} else {
		if len(cfg.RetryTiers) == 0 {
			return nil, errors.New("rabbitconsume: Config.RetryTiers must be nil (the defaults) or hold at least one delay")
		}
		for i, d := range cfg.RetryTiers {
			if d < time.Millisecond || d > maxTier || d%time.Millisecond != 0 {
				return nil, fmt.Errorf("rabbitconsume: Config.RetryTiers[%d] must be a whole number of milliseconds in [1ms, %v], got %v", i, maxTier, d)
			}
			if i > 0 && d <= cfg.RetryTiers[i-1] {
				return nil, fmt.Errorf("rabbitconsume: Config.RetryTiers must increase, got %v after %v", d, cfg.RetryTiers[i-1])
			}
		}
		cfg.RetryTiers = slices.Clone(cfg.RetryTiers)
	}
	for _, k := range []string{"x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key"} {
		if _, ok := cfg.RetryQueueArgs[k]; ok {
			return nil, fmt.Errorf("rabbitconsume: Config.RetryQueueArgs may not set %s: the Source sets it", k)
		}
	}
	if cfg.ReconnectBackoff == nil {
		cfg.ReconnectBackoff = def.ReconnectBackoff
	} else if err := cfg.ReconnectBackoff.Validate(); err != nil {
		return nil, fmt.Errorf("rabbitconsume: Config.ReconnectBackoff: %w", err)
	}
	if cfg.MaxReconnectDelay < 0 {
		return nil, fmt.Errorf("rabbitconsume: Config.MaxReconnectDelay must be >= 0 (0 means 5s), got %v", cfg.MaxReconnectDelay)
	}
	if cfg.MaxReconnectDelay == 0 {
		cfg.MaxReconnectDelay = def.MaxReconnectDelay
	}
	cfg.Clock = clock.OrSystem(cfg.Clock)
	cfg.Bindings = slices.Clone(cfg.Bindings)
	cfg.QueueArgs = maps.Clone(cfg.QueueArgs)
	cfg.RetryQueueArgs = maps.Clone(cfg.RetryQueueArgs)
	return &Source{
		cfg:   cfg,
		dial:  dial,
		pub:   confirm.New("rabbitconsume", dial, 0),
		done:  make(chan struct{}),
		tiers: make(map[time.Duration]bool),
	}, nil
}

func (s *Source) check() {
	if s == nil || s.pub == nil {
		panic("rabbitconsume: Source used without New")
	}
}

// ErrClosed is returned (wrapped) by Receive after Close. It matches
// bulwark.ErrClosed.
var ErrClosed = fmt.Errorf("rabbitconsume: source closed (%w)", bulwark.ErrClosed)

// Receive waits for at least one message and returns up to max of them,
// in the order the broker delivered them. It connects first if it has no
// channel, declaring the queue, its bindings and the retry queues used so
// far. When the connection or channel is lost, or the broker cancels the
// consumer, it connects again, waiting ReconnectBackoff between failed
// attempts, and keeps waiting for messages; deliveries it returned from
// the lost channel can no longer be settled (their methods return
// consume.ErrGone) and the broker delivers them again. It fails at once on
// what another attempt cannot mend: refused credentials or access, a
// queue declared with other arguments, a passive queue that does not
// exist. It returns an error wrapping ctx.Err() when ctx ends and ErrClosed
// after Close, and fails when max is over Config.Prefetch.
func (s *Source) Receive(ctx context.Context, max int) ([]consume.Delivery, error) {
	s.check()
	if max < 1 {
		return nil, fmt.Errorf("rabbitconsume: Receive: max must be >= 1, got %d", max)
	}
	if max > s.cfg.Prefetch {
		return nil, fmt.Errorf("rabbitconsume: Receive: asked for up to %d messages, more than Config.Prefetch (%d): set Prefetch to at least the Consumer's consume.Config.MaxPending, which it holds unacknowledged", max, s.cfg.Prefetch)
	}
	for {
		sess, err := s.session(ctx)
		if err != nil {
			return nil, err
		}
		var first amqp.Delivery
		select {
		case d, ok := <-sess.deliveries:
			if !ok {
				s.lost(ctx, sess)
				continue
			}
			first = d
		case <-ctx.Done():
			return nil, fmt.Errorf("rabbitconsume: %w", ctx.Err())
		case <-s.done:
			return nil, ErrClosed
		}
		out := make([]consume.Delivery, 1, min(max, 64))
		out[0] = s.wrap(sess.ch, first)
	more:
		for len(out) < max {
			select {
			case d, ok := <-sess.deliveries:
				if !ok {
					break more // the next Receive notices
				}
				out = append(out, s.wrap(sess.ch, d))
			default:
				break more
			}
		}
		return out, nil
	}
}

// lost drops sess after its deliveries ended and reports why, unless the
// Source was closed.
func (s *Source) lost(ctx context.Context, sess *session) {
	s.mu.Lock()
	if s.sess == sess {
		s.sess = nil
	}
	closed := s.closed
	s.mu.Unlock()
	// amqp091 sends a channel's close reason before it ends its deliveries;
	// with none, the channel is still open and the broker cancelled the
	// consumer (its queue was deleted).
	var err error = errors.New("the broker cancelled the consumer")
	select {
	case e, ok := <-sess.closes:
		if ok && e != nil {
			err = e
		} else {
			err = errors.New("the channel closed")
		}
	default:
	}
	_ = sess.ch.Close()
	if s.cfg.Observer != nil && !closed {
		s.cfg.Observer.Observe(ctx, ConnectionLost{Source: s.cfg.Name, Queue: s.cfg.Queue, Err: err})
	}
}

// session returns the consuming channel, opening one (and a connection) if
// there is none, and trying again with backoff until it succeeds, fails
// for good, ctx ends or the Source is closed.
func (s *Source) session(ctx context.Context) (*session, error) {
	s.mu.Lock()
	sess, closed := s.sess, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case sess != nil:
		return sess, nil
	}
	var wait time.Duration
	for attempt := 1; ; attempt++ {
		sess, err := s.open(ctx)
		if err == nil {
			return sess, nil
		}
		switch {
		case errors.Is(err, ErrClosed):
			return nil, err
		case ctx.Err() != nil:
			return nil, fmt.Errorf("rabbitconsume: %w (connecting: %w)", ctx.Err(), err)
		case permanent(err):
			return nil, err
		}
		wait = s.cfg.ReconnectBackoff.Wait(attempt, wait, s.cfg.MaxReconnectDelay)
		if s.cfg.Observer != nil {
			s.cfg.Observer.Observe(ctx, ConnectFailed{Source: s.cfg.Name, Queue: s.cfg.Queue, Attempt: attempt, Err: err, Wait: wait})
		}
		t := s.cfg.Clock.NewTimer(wait)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("rabbitconsume: %w (connecting: %w)", ctx.Err(), err)
		case <-s.done:
			t.Stop()
			return nil, ErrClosed
		}
	}
}

// permanent reports whether err is one that connecting again cannot mend.
func permanent(err error) bool {
	var e *amqp.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case amqp.AccessRefused, amqp.NotFound, amqp.PreconditionFailed, amqp.NotAllowed, amqp.NotImplemented, amqp.CommandInvalid, amqp.SyntaxError:
		return true
	}
	return false
}

// open opens a consuming channel, on the connection in use or on a new one,
// and declares the topology on it.
func (s *Source) open(ctx context.Context) (*session, error) {
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn == nil || conn.IsClosed() {
		c, err := s.dial(ctx)
		if err != nil {
			return nil, fmt.Errorf("rabbitconsume: connecting to RabbitMQ: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil, ErrClosed
		}
		s.conn, conn = c, c
		s.mu.Unlock()
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close() // a connection that cannot open a channel is of no use
		return nil, fmt.Errorf("rabbitconsume: opening a channel: %w", err)
	}
	closes := ch.NotifyClose(make(chan *amqp.Error, 1))
	deliveries, err := s.declare(ch)
	if err != nil {
		_ = ch.Close()
		return nil, err
	}
	sess := &session{ch: ch, deliveries: deliveries, closes: closes}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = ch.Close()
		return nil, ErrClosed
	}
	s.sess = sess
	return sess, nil
}

// declare declares the queue, its bindings and the retry queues declared so
// far on ch, sets the prefetch and starts consuming.
func (s *Source) declare(ch *amqp.Channel) (<-chan amqp.Delivery, error) {
	q := s.cfg.Queue
	var err error
	if s.cfg.Passive {
		_, err = ch.QueueDeclarePassive(q, true, false, false, false, nil)
	} else {
		_, err = ch.QueueDeclare(q, true, false, false, false, s.cfg.QueueArgs)
	}
	if err != nil {
		return nil, fmt.Errorf("rabbitconsume: declaring queue %q: %w", q, err)
	}
	for _, b := range s.cfg.Bindings {
		if err := ch.QueueBind(q, b.Key, b.Exchange, false, nil); err != nil {
			return nil, fmt.Errorf("rabbitconsume: binding queue %q to exchange %q with key %q: %w", q, b.Exchange, b.Key, err)
		}
	}
	if dlq := s.cfg.DeadLetterQueue; dlq != "" {
		if _, err := ch.QueueDeclare(dlq, true, false, false, false, nil); err != nil {
			return nil, fmt.Errorf("rabbitconsume: declaring dead-letter queue %q: %w", dlq, err)
		}
	}
	s.mu.Lock()
	tiers := make([]time.Duration, 0, len(s.tiers))
	for t := range s.tiers {
		tiers = append(tiers, t)
	}
	s.mu.Unlock()
	for _, t := range tiers {
		if err := s.declareTier(ch, t); err != nil {
			return nil, err
		}
	}
	if err := ch.Qos(s.cfg.Prefetch, 0, false); err != nil {
		return nil, fmt.Errorf("rabbitconsume: setting the prefetch to %d: %w", s.cfg.Prefetch, err)
	}
	d, err := ch.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		return nil, fmt.Errorf("rabbitconsume: consuming queue %q: %w", q, err)
	}
	return d, nil
}

// declareTier declares the retry queue of tier on ch: durable, its
// messages expiring after tier and dead-lettered through the default
// exchange into the Source's queue.
func (s *Source) declareTier(ch *amqp.Channel, tier time.Duration) error {
	name := RetryQueueName(s.cfg.Queue, tier)
	args := make(amqp.Table, len(s.cfg.RetryQueueArgs)+3)
	maps.Copy(args, s.cfg.RetryQueueArgs)
	args["x-message-ttl"] = tier.Milliseconds()
	args["x-dead-letter-exchange"] = ""
	args["x-dead-letter-routing-key"] = s.cfg.Queue
	_, err := ch.QueueDeclare(name, true, false, false, false, args)
	if err != nil {
		return fmt.Errorf("rabbitconsume: declaring retry queue %q: %w", name, err)
	}
	return nil
}

// ensureTier declares tier's retry queue, on a channel of its own, unless
// it was declared before (again is true after the broker said it is
// missing).
func (s *Source) ensureTier(tier time.Duration, again bool) error {
	s.mu.Lock()
	declared, conn := s.tiers[tier], s.conn
	s.mu.Unlock()
	if declared && !again {
		return nil
	}
	if conn == nil || conn.IsClosed() {
		return fmt.Errorf("rabbitconsume: declaring retry queue %q: %w", RetryQueueName(s.cfg.Queue, tier), amqp.ErrClosed)
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("rabbitconsume: declaring retry queue %q: %w", RetryQueueName(s.cfg.Queue, tier), err)
	}
	defer ch.Close()
	if err := s.declareTier(ch, tier); err != nil {
		return err
	}
	s.mu.Lock()
	s.tiers[tier] = true
	s.mu.Unlock()
	return nil
}

// tier returns the retry tier for delay: the first at least as long, or
// the last.
func (s *Source) tier(delay time.Duration) time.Duration {
	tiers := s.cfg.RetryTiers
	i, _ := slices.BinarySearch(tiers, delay)
	if i == len(tiers) {
		i--
	}
	return tiers[i]
}

// Close stops consuming and closes the Source's connections; messages not
// yet settled go back to the queue for redelivery, and their deliveries'
// methods return consume.ErrGone. Receive returns ErrClosed afterwards.
// Closing again does nothing.
func (s *Source) Close(ctx context.Context) error {
	s.check()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	conn := s.conn
	s.conn, s.sess = nil, nil
	s.mu.Unlock()
	var errs []error
	if conn != nil && !conn.IsClosed() {
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(30 * time.Second)
		}
		if err := conn.CloseDeadline(deadline); err != nil && !errors.Is(err, amqp.ErrClosed) {
			errs = append(errs, fmt.Errorf("rabbitconsume: closing the connection: %w", err))
		}
	}
	if err := s.pub.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// errRedeliver wraps a failed retry publish.
func errRedeliver(id, queue string, err error) error {
	if errors.Is(err, rabbitmq.ErrClosed) {
		err = fmt.Errorf("%w (%w)", ErrClosed, err)
	}
	return fmt.Errorf("rabbitconsume: redelivering message %s through %q: %w", id, queue, err)
}
