package natsconsume

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Unlimited, as Config.MaxAckPending, lets the consumer have any number of
// messages delivered and not yet acknowledged.
const Unlimited = -1

// Defaults of Config's settings, which the zero values mean.
const (
	DefaultAckWait       = 30 * time.Second
	DefaultMaxAckPending = 1000
	DefaultMaxBatch      = 100
	DefaultFetchWait     = time.Second
	DefaultAckTimeout    = 5 * time.Second
)

// Config configures a Source. Stream and Durable are required; every other
// zero value means the default its comment names.
type Config struct {
	// Stream is the JetStream stream to consume. Required.
	Stream string
	// Durable is the name of the durable pull consumer on Stream that
	// the Source creates, or updates to this Config, on its first
	// Receive. The consumer keeps what was acknowledged across restarts:
	// a new Source with the same Durable continues where the last one
	// stopped. Required; a name as JetStream takes it (no white space,
	// ".", "*", ">", "/" or "\").
	Durable string
	// FilterSubjects are the subjects of Stream the consumer takes
	// (wildcards allowed); nil means all of them.
	FilterSubjects []string
	// AckWait is how long the server waits for a delivered message to be
	// acknowledged (or extended) before delivering it again; 0 means
	// DefaultAckWait (30s), otherwise in [100ms, 24h]. A Consumer extends
	// the wait of the messages it holds with Delivery.Extend.
	AckWait time.Duration
	// MaxAckPending is how many messages the consumer may have delivered
	// and not yet acknowledged; the server delivers no more until some
	// are. Messages waiting for a delayed redelivery (Redeliver) count
	// too. 0 means DefaultMaxAckPending (1000), Unlimited means no limit,
	// otherwise in [1, 1e6]. Keep it above the Consumer's MaxPending, or
	// the server stops delivering before the Consumer would.
	MaxAckPending int
	// MaxBatch is the most messages one Receive asks the server for; 0
	// means DefaultMaxBatch (100), otherwise in [1, 10000].
	MaxBatch int
	// FetchWait is how long one pull request waits on the server for a
	// message when none is there; Receive then asks again. A Receive whose
	// ctx ends returns when its pull request does, so FetchWait also
	// bounds how long that takes (and how long a request outlives a lost
	// connection: FetchWait + 1s). 0 means DefaultFetchWait (1s),
	// otherwise in [100ms, 1m].
	FetchWait time.Duration
	// AckTimeout bounds the wait for the server's confirmation of an Ack,
	// AckAsync, Redeliver, Release or Extend whose ctx has no earlier
	// deadline; 0 means DefaultAckTimeout (5s), otherwise in [10ms, 5m].
	AckTimeout time.Duration
	// AckWithoutConfirm makes Ack and AckAsync publish the
	// acknowledgement without waiting for the server to confirm it (as
	// jetstream.Msg.Ack does): less work for the client and the server
	// (see the package doc), but Ack's nil then means sent, not applied.
	// An acknowledgement lost on the way (the connection dropping, the
	// process killed before nats.go flushed it) makes the server deliver
	// the message again after AckWait, and Ack cannot report ErrGone.
	// false (the default) waits for the confirmation: a Consumer collects
	// it off its workers (AckAsync). Redeliver, Release and Extend always
	// wait.
	AckWithoutConfirm bool
	// Shared says that several processes consume the durable at once.
	// false (the default) means one process at a time, and then a new
	// Source resumes in stream order on nats-server 2.14 and later: when
	// its first Receive finds messages delivered and not acknowledged
	// (those a crashed process held, or a closed one released), it rewinds
	// the durable to its ack floor with JetStream's consumer reset, so that
	// everything after the floor is delivered again in stream order, those
	// messages first, with Attempt counted from 1 again. Without this
	// JetStream hands out the messages after the held ones first, so a
	// key's later message would run before the earlier one a crashed
	// process never finished. A rewind delivers again the messages
	// acknowledged above the floor (an idempotent inbox skips them) and
	// cuts short the delay of messages waiting for a Redeliver. true skips
	// it: a rewind would disturb the other processes' messages, and
	// per-key order across processes does not hold anyway (see the package
	// doc). Older servers have no reset: see WaitOutLeases.
	Shared bool
	// WaitOutLeases keeps per-key order across a crash on servers older
	// than 2.14, which cannot rewind (see Shared): the first Receive waits
	// one AckWait (and a tenth more, for the server's timer) before it
	// pulls anything when the durable has messages delivered and not yet
	// acknowledged, then takes those back at once (up to its max, beyond
	// MaxBatch) and returns them in stream order, before any message
	// delivered for the first time. That holds as long as the crashed
	// process held no more than the Consumer's MaxPending. It costs that
	// wait at every start that finds such messages, after a clean shutdown
	// too (the messages a closing Consumer releases count until they are
	// delivered again), so it is off by default. It does nothing on a
	// server that can rewind, or when Shared is set.
	WaitOutLeases bool
	// KeyHeader names the header that holds the ordering key of messages
	// natsoutbox did not publish (those have natsoutbox.KeyHeader); ""
	// means such messages have no key.
	KeyHeader string
	// Name names the Source in its events.
	Name string
	// Observer receives the Source's events (FetchFailed); nil means none.
	Observer bulwark.Observer
	// Clock times the waits after a failed fetch; nil means clock.System.
	Clock clock.Clock
}

// DefaultConfig returns the defaults the zero Config means, with Stream and
// Durable (which have none) left empty.
func DefaultConfig() Config {
	return Config{
		AckWait:       DefaultAckWait,
		MaxAckPending: DefaultMaxAckPending,
		MaxBatch:      DefaultMaxBatch,
		FetchWait:     DefaultFetchWait,
		AckTimeout:    DefaultAckTimeout,
		Clock:         clock.System,
	}
}

// fetchBackoff spaces out fetches after failures the Source rides out.
var fetchBackoff = retry.Exponential{Initial: 50 * time.Millisecond}

const maxFetchDelay = 5 * time.Second

// Source is a consume.Source over a JetStream durable pull consumer. It is
// used by one consume.Consumer at a time (see consume.Source). A Source
// made without New panics from every method.
type Source struct {
	js  jetstream.JetStream
	nc  *nats.Conn
	cfg Config

	next string // the subject of pull requests
	acks confirmer

	mu     sync.Mutex
	cons   jetstream.Consumer
	start  time.Time // on a server without reset: when the first pull may go out
	held   int       // on a server without reset: the messages left unacknowledged
	closed bool
}

var _ consume.Source = (*Source)(nil)

// New returns a Source that consumes through js, or an error naming a nil
// js or the first invalid setting of cfg. It does no I/O: the durable
// consumer is created or updated on the first Receive. The Source never
// closes js's connection.
func New(js jetstream.JetStream, cfg Config) (*Source, error) {
	if js == nil {
		return nil, errors.New("natsconsume: New: js must not be nil")
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	nc := js.Conn()
	return &Source{js: js, nc: nc, cfg: cfg, next: apiPrefix(js.Options()) + "CONSUMER.MSG.NEXT." + cfg.Stream + "." + cfg.Durable,
		acks: confirmer{nc: nc, timeout: cfg.AckTimeout}}, nil
}

// apiPrefix returns the subject prefix of js's API requests.
func apiPrefix(o jetstream.JetStreamOptions) string {
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix != "" && !strings.HasSuffix(o.APIPrefix, "."):
		return o.APIPrefix + "."
	case o.APIPrefix != "":
		return o.APIPrefix
	}
	return jetstream.DefaultAPIPrefix
}

func (c *Config) fill() error {
	if why := badName(c.Stream); why != "" {
		return fmt.Errorf("natsconsume: Config.Stream %s", why)
	}
	if why := badName(c.Durable); why != "" {
		return fmt.Errorf("natsconsume: Config.Durable %s", why)
	}
	for i, s := range c.FilterSubjects {
		if why := badFilter(s); why != "" {
			return fmt.Errorf("natsconsume: Config.FilterSubjects[%d] %.64q %s", i, s, why)
		}
	}
	d := DefaultConfig()
	var err error
	durationIn := func(field string, v *time.Duration, def, lo, hi time.Duration) {
		if err != nil {
			return
		}
		if *v == 0 {
			*v = def
		} else if *v < lo || *v > hi {
			err = fmt.Errorf("natsconsume: Config.%s must be 0 (meaning %v) or in [%v, %v], got %v", field, def, lo, hi, *v)
		}
	}
	durationIn("AckWait", &c.AckWait, d.AckWait, 100*time.Millisecond, 24*time.Hour)
	durationIn("FetchWait", &c.FetchWait, d.FetchWait, 100*time.Millisecond, time.Minute)
	durationIn("AckTimeout", &c.AckTimeout, d.AckTimeout, 10*time.Millisecond, 5*time.Minute)
	if err != nil {
		return err
	}
	switch {
	case c.MaxAckPending == 0:
		c.MaxAckPending = d.MaxAckPending
	case c.MaxAckPending != Unlimited && (c.MaxAckPending < 1 || c.MaxAckPending > 1e6):
		return fmt.Errorf("natsconsume: Config.MaxAckPending must be 0 (meaning %d), natsconsume.Unlimited or in [1, 1e6], got %d", d.MaxAckPending, c.MaxAckPending)
	}
	switch {
	case c.MaxBatch == 0:
		c.MaxBatch = d.MaxBatch
	case c.MaxBatch < 1 || c.MaxBatch > 10000:
		return fmt.Errorf("natsconsume: Config.MaxBatch must be 0 (meaning %d) or in [1, 10000], got %d", d.MaxBatch, c.MaxBatch)
	}
	if c.KeyHeader != "" && !headerName(c.KeyHeader) {
		return fmt.Errorf("natsconsume: Config.KeyHeader %.64q is not a header name NATS carries (printable ASCII without any of \"(),/:;<=>?@[\\]{})", c.KeyHeader)
	}
	c.Clock = clock.OrSystem(c.Clock)
	return nil
}

// badName says why name is not a stream or consumer name, or "".
func badName(name string) string {
	switch {
	case name == "":
		return "is required"
	case len(name) > 255:
		return fmt.Sprintf("must be at most 255 bytes, got %d", len(name))
	}
	for i := range len(name) {
		if c := name[i]; c <= ' ' || c == 0x7f || strings.IndexByte(`.*>/\`, c) >= 0 {
			return fmt.Sprintf("%.64q holds %q: names have no white space, control characters or any of .*>/\\", name, c)
		}
	}
	return ""
}

// badFilter says why s is not a subject filter, or "".
func badFilter(s string) string {
	if s == "" {
		return "is empty"
	}
	for i := range len(s) {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return fmt.Sprintf("holds %q: subjects have no white space or control characters", c)
		}
	}
	toks := strings.Split(s, ".")
	for i, tok := range toks {
		switch {
		case tok == "":
			return "has an empty token"
		case tok == ">" && i != len(toks)-1:
			return `has ">" before its last token`
		}
	}
	return ""
}

func (s *Source) check() {
	if s == nil || s.js == nil {
		panic("natsconsume: Source used without New")
	}
}

// consumer returns the durable consumer, creating or updating it first.
func (s *Source) consumer(ctx context.Context) (jetstream.Consumer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("natsconsume: Receive: %w", bulwark.ErrClosed)
	}
	if s.cons != nil {
		return s.cons, nil
	}
	cc := jetstream.ConsumerConfig{
		Durable:       s.cfg.Durable,
		Description:   "bulwark natsconsume",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: s.cfg.MaxAckPending,
	}
	switch len(s.cfg.FilterSubjects) {
	case 0:
	case 1:
		cc.FilterSubject = s.cfg.FilterSubjects[0]
	default:
		cc.FilterSubjects = s.cfg.FilterSubjects
	}
	cons, err := s.js.CreateOrUpdateConsumer(ctx, s.cfg.Stream, cc)
	if err != nil {
		return nil, fmt.Errorf("natsconsume: creating or updating consumer %s on stream %s: %w", s.cfg.Durable, s.cfg.Stream, err)
	}
	s.cons = cons
	if info := cons.CachedInfo(); !s.cfg.Shared && info != nil && info.NumAckPending > 0 {
		if !canReset(s.nc.ConnectedServerVersion()) {
			if s.cfg.WaitOutLeases {
				s.start = s.cfg.Clock.Now().Add(s.cfg.AckWait + s.cfg.AckWait/10)
				s.held = info.NumAckPending
			}
		} else if _, err := s.js.ResetConsumer(ctx, s.cfg.Stream, s.cfg.Durable); err != nil {
			s.cons = nil // the next Receive tries again
			return nil, fmt.Errorf("natsconsume: rewinding consumer %s on stream %s to its ack floor: %w", s.cfg.Durable, s.cfg.Stream, err)
		}
	}
	return cons, nil
}

// waitOutLeases waits, with WaitOutLeases on a server without consumer
// reset, until the leases of messages a crashed process held have run out
// (see Config.WaitOutLeases), and
// returns how many there were (0 when it did not wait).
func (s *Source) waitOutLeases(ctx context.Context) (int, error) {
	s.mu.Lock()
	start, held := s.start, s.held
	s.start, s.held = time.Time{}, 0
	s.mu.Unlock()
	if start.IsZero() {
		return 0, nil
	}
	if err := clock.Sleep(ctx, s.cfg.Clock, start.Sub(s.cfg.Clock.Now())); err != nil {
		s.mu.Lock()
		s.start, s.held = start, held // the next Receive waits out the rest
		s.mu.Unlock()
		return 0, err
	}
	return held, nil
}

// recover takes back, at once, up to max of the held messages whose
// leases ran out, sorted by stream sequence: the server redelivers them in
// the order their leases ran out, which is not the stream's when the
// crashed process extended some later than others.
func (s *Source) recover(ctx context.Context, held, max int) ([]consume.Delivery, error) {
	ds, err := s.pull(ctx, min(held, max), true)
	slices.SortStableFunc(ds, func(a, b consume.Delivery) int {
		return cmp.Compare(a.Message().Metadata.(*Metadata).StreamSeq, b.Message().Metadata.(*Metadata).StreamSeq)
	})
	return ds, err
}

// Receive waits until at least one message is available and returns at
// most min(max, Config.MaxBatch) of them, in the order the server
// delivered them. On its first call it creates the durable consumer, or
// updates it to the Config. Failures it can ride out (a timeout, JetStream
// not answering while a server restarts or a cluster elects a leader) are
// tried again after a growing wait (50ms up to 5s), each reported as a
// FetchFailed event; a connection being re-established is waited out by
// nats.go. It returns an error when ctx ends (wrapping ctx's error), after
// Close (wrapping bulwark.ErrClosed), and for failures that will not pass:
// the connection closed, the stream or the consumer not found or deleted,
// a consumer Config the server refuses. A Receive whose ctx ends while its
// pull request waits on the server returns when the request ends (within
// FetchWait), with the messages it brought if any, so that none is left
// unread.
func (s *Source) Receive(ctx context.Context, max int) ([]consume.Delivery, error) {
	s.check()
	if max < 1 {
		return nil, fmt.Errorf("natsconsume: Receive: max must be >= 1, got %d", max)
	}
	n := min(max, s.cfg.MaxBatch)
	for failures := 0; ; {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("natsconsume: Receive: %w", err)
		}
		var ds []consume.Delivery
		cons, err := s.consumer(ctx)
		if err == nil {
			held, werr := s.waitOutLeases(ctx)
			switch {
			case werr != nil:
				return nil, fmt.Errorf("natsconsume: Receive: %w", werr)
			case held > 0:
				// A failure shows again in the fetch below.
				if ds, _ = s.recover(ctx, held, max); len(ds) > 0 {
					return ds, nil
				}
			}
			ds, err = s.fetch(ctx, cons, n)
			if len(ds) > 0 {
				return ds, nil
			}
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("natsconsume: Receive: %w", cerr)
		}
		if err == nil {
			failures = 0
			continue
		}
		if permanent(err) {
			return nil, err
		}
		failures++
		delay := fetchBackoff.Wait(failures, 0, maxFetchDelay)
		if s.cfg.Observer != nil {
			s.cfg.Observer.Observe(ctx, FetchFailed{Name: s.cfg.Name, Err: err, Failures: failures, Delay: delay})
		}
		if err := clock.Sleep(ctx, s.cfg.Clock, delay); err != nil {
			return nil, fmt.Errorf("natsconsume: Receive: %w", err)
		}
	}
}

// fetch asks for up to n messages that are there now; when there are none,
// it waits for one, with a pull request for one message that expires on
// the server after FetchWait, then asks for up to n-1 more that are there.
func (s *Source) fetch(ctx context.Context, cons jetstream.Consumer, n int) ([]consume.Delivery, error) {
	ds, err := s.pull(ctx, n, true)
	// A refusal of a no-wait request (such as "Exceeded MaxAckPending")
	// is not a failure: the waiting request below then waits.
	if len(ds) > 0 || err != nil && (permanent(err) || ctx.Err() != nil) {
		return ds, s.fetchError(ctx, cons, err)
	}
	if ds, err = s.pull(ctx, 1, false); len(ds) == 0 {
		return nil, s.fetchError(ctx, cons, err)
	}
	if n > 1 && ctx.Err() == nil {
		more, _ := s.pull(ctx, n-1, true) // what arrived is returned; the rest waits for the next Receive
		ds = append(ds, more...)
	}
	return ds, nil
}

// pullRequest is JetStream's request for the next messages of a pull
// consumer.
type pullRequest struct {
	Batch   int           `json:"batch"`
	Expires time.Duration `json:"expires,omitempty"`
	NoWait  bool          `json:"no_wait,omitempty"`
}

// pull sends one pull request for up to n messages, without waiting on the
// server for any (noWait) or waiting up to FetchWait, and returns what it
// brings. The request is never left open on the server: pull returns when
// the server ends it (with a status, or once it has sent n messages), even
// when ctx ends first, so that no message is sent into a subscription
// nobody reads (nats-server 2.9 even loses a redelivered message offered
// to a request whose subscriber is gone, until its AckWait runs out, and
// delivers the next message twice). Messages that arrive after ctx ended
// are returned with a nil error; without any, ctx's error is. Only when the
// server's answer is lost with a connection (no end within FetchWait + 1s)
// does pull stop waiting: it drains the subscription, and returns what
// still arrives.
func (s *Source) pull(ctx context.Context, n int, noWait bool) ([]consume.Delivery, error) {
	// A request published while the connection is down waits in the
	// client's reconnect buffer and reaches the new server only after
	// reconnecting, possibly after this pull gave up on it: the server would
	// then deliver messages to an inbox nobody reads, and they would wait
	// out their AckWait before anyone saw them. Receive retries instead.
	if !s.nc.IsConnected() {
		return nil, nats.ErrConnectionReconnecting
	}
	// The server sends at most n messages and one status: a channel with
	// room for them never drops one (SubscribeSync's would take 64k
	// slots, half a megabyte, per request).
	ch := make(chan *nats.Msg, n+8)
	sub, err := s.nc.ChanSubscribe(s.nc.NewInbox(), ch)
	if err != nil {
		return nil, err
	}
	req := pullRequest{Batch: n, NoWait: noWait}
	limit := time.Second // the server answers a no-wait request at once
	if !noWait {
		req.Expires = s.cfg.FetchWait
		limit += s.cfg.FetchWait
	}
	body, _ := json.Marshal(req)
	if err := s.nc.PublishRequest(s.next, sub.Subject, body); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	// Not ctx: the request runs to its end on the server either way.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	defer cancel()
	var ds []consume.Delivery
	done := func(err error) ([]consume.Delivery, error) {
		switch {
		case len(ds) > 0:
			return ds, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, err
	}
	for len(ds) < n {
		var msg *nats.Msg
		select {
		case msg = <-ch:
		case <-rctx.Done():
			ds = append(ds, s.abandon(sub, ch)...)
			return done(nil) // the answer was lost: ask again
		}
		if msg.Reply != "" {
			ds = append(ds, s.delivery(msg))
			continue
		}
		switch code := msg.Header.Get("Status"); code {
		case "100": // a heartbeat or flow control: not an answer
			continue
		case "404", "408": // no messages, or the request expired: done
			err = nil
		case "409":
			err = statusError(msg)
		case "503":
			err = nats.ErrNoResponders
		default:
			err = fmt.Errorf("nats: status %s %s", code, msg.Header.Get("Description"))
		}
		_ = sub.Unsubscribe()
		return done(err)
	}
	_ = sub.Unsubscribe()
	return ds, nil
}

// statusError is the error a 409 answer to a pull request stands for.
func statusError(msg *nats.Msg) error {
	desc := msg.Header.Get("Description")
	switch lower := strings.ToLower(desc); {
	case strings.Contains(lower, "consumer deleted"):
		return jetstream.ErrConsumerDeleted
	case strings.Contains(lower, "leadership change"):
		return jetstream.ErrConsumerLeadershipChanged
	case strings.Contains(lower, "server shutdown"):
		return jetstream.ErrServerShutdown
	}
	return fmt.Errorf("nats: %s", desc)
}

// abandon ends a pull request whose answer was lost: it drains the
// subscription and returns the messages that still arrive, sent by the
// server before it saw the unsubscription.
func (s *Source) abandon(sub *nats.Subscription, ch chan *nats.Msg) []consume.Delivery {
	var late []consume.Delivery
	take := func() {
		for {
			select {
			case msg := <-ch:
				if msg.Reply != "" {
					late = append(late, s.delivery(msg))
				}
			default:
				return
			}
		}
	}
	if err := sub.Drain(); err == nil {
		// The drain is over once the server has answered a ping sent
		// after the unsubscription; nothing comes after that.
		deadline := time.Now().Add(s.cfg.AckTimeout)
		for sub.IsValid() && time.Now().Before(deadline) {
			take()
			time.Sleep(10 * time.Millisecond)
		}
	}
	_ = sub.Unsubscribe()
	take()
	return late
}

// fetchError wraps a failed fetch's error, finding out first, when nobody
// answered the pull request, whether the consumer or its stream is gone.
func (s *Source) fetchError(ctx context.Context, cons jetstream.Consumer, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, nats.ErrNoResponders) && ctx.Err() == nil {
		// Nobody answers pull requests: the consumer is gone, or
		// JetStream is not there for a moment. Ask which.
		if _, ierr := cons.Info(ctx); errors.Is(ierr, jetstream.ErrConsumerNotFound) || errors.Is(ierr, jetstream.ErrStreamNotFound) {
			err = ierr
		}
	}
	return fmt.Errorf("natsconsume: fetching from %s on stream %s: %w", s.cfg.Durable, s.cfg.Stream, err)
}

// permanent reports whether a fetch failure will not pass by waiting.
func permanent(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, bulwark.ErrClosed), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrConsumerNotFound),
		errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrBadRequest),
		errors.Is(err, jetstream.ErrConsumerExists), errors.Is(err, jetstream.ErrInvalidOption):
		return true
	case errors.As(err, &apiErr):
		return apiErr.Code >= 400 && apiErr.Code < 500 && apiErr.Code != 408
	}
	return false
}

// Close marks the Source closed: a later Receive returns an error wrapping
// bulwark.ErrClosed. It then waits, within ctx, for the server to answer
// every acknowledgement sent with AckAsync (each done is called before
// Close returns), and ends their reply subscription. When ctx ends first,
// the acknowledgements still unanswered get an error wrapping ctx's (the
// server may or may not have applied them; it delivers again, after
// AckWait, those it did not), and Close returns it, wrapped; otherwise nil.
// The durable consumer stays on the server with what was acknowledged;
// deliveries not settled are delivered again once their AckWait runs out.
// Between Receives the Source holds no pull request. Close never closes
// js's connection.
func (s *Source) Close(ctx context.Context) error {
	s.check()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.acks.close(ctx)
}

// canReset reports whether a server of the given version ("2.14.0") has
// JetStream's consumer reset, which came with nats-server 2.14.
func canReset(version string) bool {
	major, rest, _ := strings.Cut(version, ".")
	minor, _, _ := strings.Cut(rest, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	return err1 == nil && err2 == nil && (ma > 2 || ma == 2 && mi >= 14)
}
