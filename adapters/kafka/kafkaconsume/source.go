package kafkaconsume

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/kafka/internal/produce"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaoutbox"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrClosed is returned (wrapped) by Receive after Close.
var ErrClosed = errors.New("kafkaconsume: source closed")

// Config configures a Source. The zero Config is the default.
type Config struct {
	// Opts are the options of the client the Source makes: the seed
	// brokers (kgo.SeedBrokers, default 127.0.0.1:9092), TLS, SASL, fetch
	// sizes, the group's session and rebalance timeouts, where a new group
	// starts (kgo.ConsumeStartOffset, default the start of each
	// partition). The Source adds its own: the group and topics,
	// cooperative-sticky balancing, manual commits, rebalances blocked
	// while a poll is being recorded, and its partition callbacks. Opts
	// must not set a group, topics or partitions to consume, nor make the
	// client's produces less than durable (see New).
	Opts []kgo.Opt
	// RetryTopic returns the retry topic of a topic: where Redeliver sends
	// its messages, and which the Source consumes too. nil means topic +
	// ".retry". The retry topics must exist (or the client may create
	// them, kgo.AllowAutoTopicCreation) and must not be topics the Source
	// consumes otherwise.
	RetryTopic func(topic string) string
	// CommitInterval is how often the offsets of done messages are
	// committed, besides on revocation and Close. 0 means 1s; else 1ms to
	// 1h.
	CommitInterval time.Duration
	// RevokeWait is how long a revocation waits for the deliveries of the
	// revoked partitions to be settled before it commits what is done and
	// lets the partitions go. 0 means 10s; else 1ms to 1h, and less than
	// the client's rebalance timeout (kgo.RebalanceTimeout, 60s by
	// default).
	RevokeWait time.Duration
	// MaxHeld bounds the retry records the Source holds until their
	// not-before time: with that many held, it stops fetching the retry
	// topics until one is due. 0 means 1024; else 1 to 1e6.
	MaxHeld int
	// Name names the Source in its events.
	Name string
	// Observer receives the Source's events; nil observes nothing.
	Observer bulwark.Observer
	// Clock is the time retry records are held by and stamped with, and
	// commits and revocation waits are timed by. nil means clock.System.
	Clock clock.Clock
}

// DefaultConfig returns the zero Config's settings spelled out.
func DefaultConfig() Config {
	return Config{CommitInterval: time.Second, RevokeWait: 10 * time.Second, MaxHeld: 1024, Clock: clock.System}
}

// Source is a consume.Source over a Kafka consumer group. See the package
// documentation for what it guarantees. A Source made without New panics
// from every method.
type Source struct {
	group      string
	topics     []string
	retryTopic func(string) string
	retries    []string        // retry topics, sorted, distinct
	isRetry    map[string]bool // retry topic names
	opts       []kgo.Opt
	every      time.Duration
	revokeWait time.Duration
	maxHeld    int
	name       string
	obs        bulwark.Observer
	clk        clock.Clock

	commitMu sync.Mutex // one commit at a time

	mu       sync.Mutex
	cl       *kgo.Client
	stop     chan struct{} // closed by Close: ends the commit loop
	loopDone chan struct{}
	closed   bool
	closing  bool // Close is leaving the group: revocations do not wait
	parts    map[tp]*partition
	ready    []*entry           // fetched, to hand out in order
	released []*entry           // released, to hand out again first
	held     []*entry           // retry records not yet due, a min-heap by notBefore
	paused   bool               // the retry topics are paused: MaxHeld reached
	changed  chan struct{}      // closed and replaced on a settle while waiting > 0
	waiting  int                // revocations waiting for settles
	wake     context.CancelFunc // ends the poll Receive is in
}

type tp struct {
	topic     string
	partition int32
}

// partition is one assigned partition's record of what was fetched and
// what is done. A partition revoked or lost is gone for good; if it comes
// back, it is a new partition.
type partition struct {
	tp
	gone  bool
	queue []*entry        // fetched and not yet committable, in offset order
	next  kgo.EpochOffset // the offset to commit: every record before it is done; -1 for none yet
	sent  int64           // the last offset committed, -1 for none
	out   int             // entries handed out and not settled
	last  int64           // the highest offset fetched, -1 for none
}

// entry is one fetched record.
type entry struct {
	p         *partition
	rec       *kgo.Record
	msg       consume.Message
	id        string // copies of msg's, which a handler might change
	topic     string
	attempt   int
	published time.Time
	notBefore time.Time
	done      bool
	out       *delivery // the delivery handing it out, nil when not out
	first     delivery  // the first delivery, allocated with the entry
}

// New returns a Source that consumes topics (and their retry topics) in the
// consumer group group, with a client of its own made from cfg.Opts, or an
// error naming the first invalid parameter or setting.
//
// The Source makes its client rather than taking one because the group's
// settings (the group, topics, balancer, partition callbacks, manual
// commits) can only be given when a client is made, and the Source needs
// all of them to keep its promises. The client also produces Redeliver's
// records, so Opts must keep franz-go's durable produce defaults (acks from
// all in-sync replicas, idempotent writes, automatic flushing, not
// transactional).
//
// New checks and starts nothing: the client is made, and the group joined,
// at the first Receive; Close leaves the group and closes the client.
func New(group string, topics []string, cfg Config) (*Source, error) {
	if group == "" {
		return nil, errors.New("kafkaconsume: New: group must not be empty")
	}
	if len(topics) == 0 {
		return nil, errors.New("kafkaconsume: New: topics must name at least one topic")
	}
	s := &Source{group: group, topics: slices.Clone(topics), retryTopic: cfg.RetryTopic, isRetry: map[string]bool{},
		every: cfg.CommitInterval, revokeWait: cfg.RevokeWait, maxHeld: cfg.MaxHeld,
		name: cfg.Name, obs: cfg.Observer, clk: clock.OrSystem(cfg.Clock), parts: map[tp]*partition{}, changed: make(chan struct{})}
	if s.retryTopic == nil {
		s.retryTopic = func(t string) string { return t + ".retry" }
	}
	for _, t := range topics {
		if err := kafkaoutbox.CheckTopic(t); err != nil {
			return nil, fmt.Errorf("kafkaconsume: New: topics: %w", err)
		}
		rt := s.retryTopic(t)
		if err := kafkaoutbox.CheckTopic(rt); err != nil {
			return nil, fmt.Errorf("kafkaconsume: Config.RetryTopic(%q): %w", t, err)
		}
		if slices.Contains(topics, rt) {
			return nil, fmt.Errorf("kafkaconsume: Config.RetryTopic(%q) must not be a topic given to New, got %q", t, rt)
		}
		if !s.isRetry[rt] {
			s.isRetry[rt] = true
			s.retries = append(s.retries, rt)
		}
	}
	slices.Sort(s.retries)
	switch {
	case s.every == 0:
		s.every = time.Second
	case s.every < time.Millisecond || s.every > time.Hour:
		return nil, fmt.Errorf("kafkaconsume: Config.CommitInterval must be 0 or in [1ms, 1h], got %v", s.every)
	}
	switch {
	case s.revokeWait == 0:
		s.revokeWait = 10 * time.Second
	case s.revokeWait < time.Millisecond || s.revokeWait > time.Hour:
		return nil, fmt.Errorf("kafkaconsume: Config.RevokeWait must be 0 or in [1ms, 1h], got %v", s.revokeWait)
	}
	switch {
	case s.maxHeld == 0:
		s.maxHeld = 1024
	case s.maxHeld < 1 || s.maxHeld > 1e6:
		return nil, fmt.Errorf("kafkaconsume: Config.MaxHeld must be 0 or in [1, 1e6], got %d", s.maxHeld)
	}
	// A client of the caller's options alone, to check them; it dials
	// nothing, consuming nothing.
	probe, err := kgo.NewClient(cfg.Opts...)
	if err != nil {
		return nil, fmt.Errorf("kafkaconsume: Config.Opts: %w", err)
	}
	defer probe.Close()
	if err := produce.Check("kafkaconsume: Config.Opts", probe); err != nil {
		return nil, err
	}
	if g, _ := probe.OptValue(kgo.ConsumerGroup).(string); g != "" {
		return nil, fmt.Errorf("kafkaconsume: Config.Opts must not set kgo.ConsumerGroup (the group is New's group), got %q", g)
	}
	if ts, _ := probe.OptValue(kgo.ConsumeTopics).([]string); len(ts) > 0 {
		return nil, fmt.Errorf("kafkaconsume: Config.Opts must not set kgo.ConsumeTopics (the topics are New's topics), got %q", ts)
	}
	if re, _ := probe.OptValue(kgo.ConsumeRegex).(bool); re {
		return nil, errors.New("kafkaconsume: Config.Opts must not set kgo.ConsumeRegex: New's topics are names")
	}
	if ps, _ := probe.OptValue(kgo.ConsumePartitions).(map[string]map[int32]kgo.Offset); len(ps) > 0 {
		return nil, errors.New("kafkaconsume: Config.Opts must not set kgo.ConsumePartitions: a Source consumes in a group")
	}
	if rt, _ := probe.OptValue(kgo.RebalanceTimeout).(time.Duration); rt > 0 && s.revokeWait >= rt {
		return nil, fmt.Errorf("kafkaconsume: Config.RevokeWait must be less than the client's rebalance timeout %v, got %v", rt, s.revokeWait)
	}
	s.opts = append(slices.Clone(cfg.Opts),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(append(slices.Clone(topics), s.retries...)...),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(s.revoked),
		kgo.OnPartitionsLost(s.lost),
	)
	return s, nil
}

func (s *Source) check() {
	if s == nil || s.parts == nil {
		panic("kafkaconsume: Source used without New")
	}
}

// start makes the client and starts the commit loop, once.
func (s *Source) start() (*kgo.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.cl != nil {
		return s.cl, nil
	}
	cl, err := kgo.NewClient(s.opts...)
	if err != nil {
		return nil, fmt.Errorf("kafkaconsume: making the client: %w", err)
	}
	s.cl = cl
	s.stop, s.loopDone = make(chan struct{}), make(chan struct{})
	go s.commitLoop()
	return cl, nil
}

// Receive returns up to max messages: released ones first, then fetched
// ones, each partition's in offset order, except that a retry record is
// returned when its not-before time comes, after records that came due
// sooner.
// It blocks until there is at least one, ctx ends (an error wrapping
// ctx.Err()) or the Source is closed (ErrClosed).
func (s *Source) Receive(ctx context.Context, max int) ([]consume.Delivery, error) {
	s.check()
	if max < 1 {
		return nil, fmt.Errorf("kafkaconsume: Receive: max must be at least 1, got %d", max)
	}
	cl, err := s.start()
	if err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("kafkaconsume: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		now := s.clk.Now()
		s.due(cl, now)
		if out := s.take(max); len(out) > 0 {
			s.mu.Unlock()
			return out, nil
		}
		var wait time.Duration
		if len(s.held) > 0 {
			wait = max1(s.held[0].notBefore.Sub(now))
		}
		pctx, cancel := context.WithCancel(ctx)
		s.wake = cancel
		s.mu.Unlock()

		timerDone := make(chan struct{})
		if wait > 0 {
			t := s.clk.NewTimer(wait)
			go func() {
				defer close(timerDone)
				defer t.Stop()
				select {
				case <-t.C():
					cancel()
				case <-pctx.Done():
				}
			}()
		} else {
			close(timerDone)
		}
		fs := cl.PollRecords(pctx, max)
		s.mu.Lock()
		s.wake = nil
		s.record(cl, fs)
		s.mu.Unlock()
		cl.AllowRebalance()
		cancel()
		<-timerDone
		if fs.IsClientClosed() {
			return nil, ErrClosed
		}
		fs.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) {
				return
			}
			s.observe(ctx, FetchFailed{Source: s.name, Topic: topic, Partition: p, Err: err})
		})
	}
}

func max1(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Nanosecond
	}
	return d
}

// record files polled records under their partitions, as ready or, for
// retry records not yet due, held. s.mu is held, and rebalances are
// blocked until the caller allows them, so every record's partition is
// still assigned.
func (s *Source) record(cl *kgo.Client, fs kgo.Fetches) {
	now := s.clk.Now()
	fs.EachRecord(func(rec *kgo.Record) {
		k := tp{rec.Topic, rec.Partition}
		p := s.parts[k]
		if p == nil {
			p = &partition{tp: k, next: kgo.EpochOffset{Epoch: -1, Offset: -1}, sent: -1, last: -1}
			s.parts[k] = p
		}
		if rec.Offset <= p.last {
			// Already handed out (or done) in this assignment: a client
			// that fetches a record again must not deliver it twice.
			return
		}
		p.last = rec.Offset
		m, nb := decode(rec)
		e := &entry{p: p, rec: rec, msg: m, id: m.ID, topic: m.Topic, attempt: m.Attempt, published: m.PublishedAt}
		p.queue = append(p.queue, e)
		if s.isRetry[rec.Topic] && nb.After(now) {
			e.notBefore = nb
			s.pushHeld(e)
			return
		}
		s.ready = append(s.ready, e)
	})
	if !s.paused && len(s.held) >= s.maxHeld {
		s.paused = true
		cl.PauseFetchTopics(s.retries...)
	}
}

// due moves held records whose time has come to the ready list.
func (s *Source) due(cl *kgo.Client, now time.Time) {
	for len(s.held) > 0 && !s.held[0].notBefore.After(now) {
		e := s.popHeld()
		if !e.p.gone {
			s.ready = append(s.ready, e)
		}
	}
	if s.paused && len(s.held) < s.maxHeld {
		s.paused = false
		cl.ResumeFetchTopics(s.retries...)
	}
}

// take hands out up to max entries, released ones first. s.mu is held.
func (s *Source) take(max int) []consume.Delivery {
	var out []consume.Delivery
	pick := func(list []*entry) []*entry {
		i := 0
		for ; i < len(list) && len(out) < max; i++ {
			e := list[i]
			list[i] = nil
			if e.p.gone || e.done || e.out != nil {
				continue
			}
			d := &e.first
			if d.e != nil { // handed out before: a new delivery
				d = &delivery{}
			}
			*d = delivery{s: s, e: e}
			e.out = d
			e.p.out++
			out = append(out, d)
		}
		return list[i:]
	}
	if len(s.released) > 0 {
		slices.SortFunc(s.released, func(a, b *entry) int {
			return cmp.Or(strings.Compare(a.rec.Topic, b.rec.Topic), cmp.Compare(a.rec.Partition, b.rec.Partition), cmp.Compare(a.rec.Offset, b.rec.Offset))
		})
		s.released = pick(s.released)
		if len(s.released) == 0 {
			s.released = nil
		}
	}
	s.ready = pick(s.ready)
	if len(s.ready) == 0 {
		s.ready = nil
	}
	return out
}

// settled wakes a revocation waiting for deliveries to be settled, if
// one is. s.mu is held.
func (s *Source) settled() {
	if s.waiting > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// advance moves p's commit mark past the done records at its front. s.mu
// is held.
func (p *partition) advance() {
	i := 0
	for ; i < len(p.queue) && p.queue[i].done; i++ {
		r := p.queue[i].rec
		p.next = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		p.queue[i] = nil
	}
	if i > 0 {
		p.queue = p.queue[i:]
	}
}

func (s *Source) pushHeld(e *entry) {
	s.held = append(s.held, e)
	for i := len(s.held) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s.held[i].notBefore.Before(s.held[parent].notBefore) {
			break
		}
		s.held[i], s.held[parent] = s.held[parent], s.held[i]
		i = parent
	}
}

func (s *Source) popHeld() *entry {
	h := s.held
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = nil
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].notBefore.Before(h[m].notBefore) {
			m = l
		}
		if r < len(h) && h[r].notBefore.Before(h[m].notBefore) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.held = h
	return top
}

// dropHeld removes the held records of gone partitions. s.mu is held.
func (s *Source) dropHeld() {
	old := s.held
	s.held = nil
	for _, e := range old {
		if !e.p.gone {
			s.pushHeld(e)
		}
	}
}

// commitLoop commits done offsets every CommitInterval until Close.
func (s *Source) commitLoop() {
	defer close(s.loopDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	for {
		t := s.clk.NewTimer(s.every)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C():
		}
		_ = s.commit(ctx, nil)
	}
}

// commit commits the marks of only's partitions, gone or not (every
// assigned partition when only is nil), that moved since their last
// commit.
func (s *Source) commit(ctx context.Context, only []*partition) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	cl := s.cl
	var ps []*partition
	var marks []int64
	offsets := map[string]map[int32]kgo.EpochOffset{}
	add := func(p *partition) {
		if p.next.Offset <= p.sent {
			return
		}
		if offsets[p.topic] == nil {
			offsets[p.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[p.topic][p.partition] = p.next
		ps = append(ps, p)
		marks = append(marks, p.next.Offset)
	}
	if only == nil {
		for _, p := range s.parts {
			add(p)
		}
	} else {
		for _, p := range only {
			add(p)
		}
	}
	s.mu.Unlock()
	if len(ps) == 0 || cl == nil {
		return nil
	}
	var err error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, cerr error) {
		if cerr != nil {
			err = cerr
			return
		}
		err = commitError(resp)
	})
	if err != nil {
		err = fmt.Errorf("kafkaconsume: committing offsets of group %s: %w", s.group, err)
		s.observe(ctx, CommitFailed{Source: s.name, Err: err})
		return err
	}
	s.mu.Lock()
	for i, p := range ps {
		p.sent = max(p.sent, marks[i])
	}
	s.mu.Unlock()
	return nil
}

// revoked is the client's OnPartitionsRevoked: it waits up to RevokeWait
// for the revoked partitions' deliveries to be settled, commits what is
// done and lets the partitions go.
func (s *Source) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	s.mu.Lock()
	ps := s.lookup(revoked)
	wait := !s.closing
	s.mu.Unlock()
	if len(ps) == 0 {
		return
	}
	if wait {
		t := s.clk.NewTimer(s.revokeWait)
		s.mu.Lock()
		s.waiting++
		for outstanding(ps) > 0 {
			ch := s.changed
			s.mu.Unlock()
			select {
			case <-ch:
			case <-t.C():
				ch = nil
			case <-ctx.Done():
				ch = nil
			}
			s.mu.Lock()
			if ch == nil {
				break
			}
		}
		s.waiting--
		s.mu.Unlock()
		t.Stop()
	}
	// Gone first, so that nothing is settled after the commit's snapshot
	// and reported done without being committed.
	abandoned := s.let(ps)
	err := s.commit(ctx, ps)
	s.observe(ctx, Revoked{Source: s.name, Partitions: revoked, Abandoned: abandoned, Err: err})
}

// lost is the client's OnPartitionsLost: the partitions' deliveries are
// gone at once, and nothing of them is committed.
func (s *Source) lost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.mu.Lock()
	ps := s.lookup(lost)
	s.mu.Unlock()
	if len(ps) == 0 {
		return
	}
	abandoned := s.let(ps)
	s.observe(ctx, Lost{Source: s.name, Partitions: lost, Abandoned: abandoned})
}

// lookup returns the assigned partitions among tps. s.mu is held.
func (s *Source) lookup(tps map[string][]int32) []*partition {
	var ps []*partition
	for topic, ids := range tps {
		for _, id := range ids {
			if p := s.parts[tp{topic, id}]; p != nil {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

func outstanding(ps []*partition) int {
	n := 0
	for _, p := range ps {
		n += p.out
	}
	return n
}

// let marks ps gone and forgets them, and returns how many of their
// deliveries were still out.
func (s *Source) let(ps []*partition) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range ps {
		p.gone = true
		n += p.out
		if s.parts[p.tp] == p {
			delete(s.parts, p.tp)
		}
	}
	s.dropHeld()
	if s.paused && len(s.held) < s.maxHeld && s.wake != nil {
		s.wake() // Receive resumes the retry topics
	}
	s.settled()
	return n
}

// Close commits the offsets of what is done, leaves the group within ctx
// and closes the client. Deliveries still out are left uncommitted, for
// the group to deliver again; settling them afterwards returns
// consume.ErrGone. Close is idempotent.
func (s *Source) Close(ctx context.Context) error {
	s.check()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	cl := s.cl
	if s.wake != nil {
		s.wake()
	}
	s.mu.Unlock()
	if cl == nil {
		return nil
	}
	close(s.stop)
	<-s.loopDone
	err := s.commit(ctx, nil)
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	if lerr := cl.LeaveGroupContext(ctx); lerr != nil && err == nil {
		err = fmt.Errorf("kafkaconsume: leaving group %s: %w", s.group, lerr)
	}
	cl.Close()
	s.mu.Lock()
	ps := make([]*partition, 0, len(s.parts))
	for _, p := range s.parts {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	s.let(ps)
	return err
}

func (s *Source) observe(ctx context.Context, e bulwark.Event) {
	if s.obs != nil {
		s.obs.Observe(ctx, e)
	}
}

// commitError returns the first partition error of a commit response.
func commitError(resp *kmsg.OffsetCommitResponse) error {
	if resp == nil {
		return nil
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

var _ consume.Source = (*Source)(nil)
