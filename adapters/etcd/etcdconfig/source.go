package etcdconfig

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/configsource"
	"github.com/bulwark-go/bulwark/retry"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrNoKey is matched by a Document's Err when the key does not exist (never
// written, or deleted).
var ErrNoKey = errors.New("etcdconfig: the key does not exist")

// Config configures a Source. The zero Config is the default configuration;
// DefaultConfig spells it out.
type Config struct {
	// Timeout bounds each read of the key, in (0, 1h]; 0 means 5s. A read
	// that etcd does not answer in time is delivered as a Document.Err and
	// tried again.
	Timeout time.Duration
	// Backoff chooses the wait before reading the key again after a read
	// failed; nil means retry.Exponential{Initial: 100 * time.Millisecond,
	// Multiplier: 2, Jitter: retry.EqualJitter}.
	Backoff retry.Backoff
	// MaxDelay caps every wait Backoff chooses, in (0, 1h]; 0 means 5s.
	MaxDelay time.Duration
	// Clock paces the waits; nil means clock.System.
	Clock clock.Clock
}

// DefaultConfig returns the defaults the zero Config stands for.
func DefaultConfig() Config {
	return Config{
		Timeout:  5 * time.Second,
		Backoff:  retry.Exponential{Initial: 100 * time.Millisecond, Multiplier: 2, Jitter: retry.EqualJitter},
		MaxDelay: 5 * time.Second,
	}
}

func (c Config) resolve() (Config, error) {
	d := DefaultConfig()
	c.Timeout = cmp.Or(c.Timeout, d.Timeout)
	c.Backoff = cmp.Or(c.Backoff, d.Backoff)
	c.MaxDelay = cmp.Or(c.MaxDelay, d.MaxDelay)
	c.Clock = clock.OrSystem(c.Clock)
	switch {
	case c.Timeout < 0 || c.Timeout > time.Hour:
		return c, fmt.Errorf("etcdconfig: Config.Timeout must be 0 (meaning 5s) or in (0, 1h], got %v", c.Timeout)
	case c.MaxDelay < 0 || c.MaxDelay > time.Hour:
		return c, fmt.Errorf("etcdconfig: Config.MaxDelay must be 0 (meaning 5s) or in (0, 1h], got %v", c.MaxDelay)
	}
	if err := c.Backoff.Validate(); err != nil {
		return c, fmt.Errorf("etcdconfig: Config.Backoff: %w", err)
	}
	return c, nil
}

// Source is a configsource.Source over one etcd key (see the package doc).
// A watcher receives every version in order; one that reads slowly holds
// up only its own watch.
type Source struct {
	client *clientv3.Client
	key    string
	cfg    Config
}

var _ configsource.Source = (*Source)(nil)

// New returns a Source of key, read through client. A nil client, an empty
// key or an invalid setting is an error naming it.
func New(client *clientv3.Client, key string, cfg Config) (*Source, error) {
	if client == nil {
		return nil, errors.New("etcdconfig: New: client must not be nil")
	}
	if key == "" {
		return nil, errors.New("etcdconfig: New: key must not be empty")
	}
	cfg, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	return &Source{client: client, key: key, cfg: cfg}, nil
}

// Watch implements configsource.Source. Its goroutine ends, and the
// channel closes, when ctx ends.
func (s *Source) Watch(ctx context.Context) (<-chan configsource.Document, error) {
	if s == nil || s.client == nil {
		panic("etcdconfig: Source used without New")
	}
	w := &watch{s: s, ch: make(chan configsource.Document)}
	go w.run(ctx)
	return w.ch, nil
}

// watch follows the key for one caller.
type watch struct {
	s  *Source
	ch chan configsource.Document
	// last is the Data last delivered; nil when nothing was, or when the
	// last delivery was an error.
	last []byte
}

func (w *watch) run(ctx context.Context) {
	defer close(w.ch)
	failures := 0
	for ctx.Err() == nil {
		err := w.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil { // the watch broke in a way a new read mends
			failures = 0
			continue
		}
		failures++
		if !w.deliver(ctx, configsource.Document{Err: err}) {
			return
		}
		wait := w.s.cfg.Backoff.Wait(failures, 0, w.s.cfg.MaxDelay)
		if clock.Sleep(ctx, w.s.cfg.Clock, wait) != nil {
			return
		}
	}
}

// follow reads the key, delivers it and follows its changes until the watch
// breaks (nil: read again at once) or fails (the error), or ctx ends.
func (w *watch) follow(ctx context.Context) error {
	rctx, cancelRead := context.WithTimeout(ctx, w.s.cfg.Timeout)
	resp, err := w.s.client.Get(rctx, w.s.key)
	cancelRead()
	if err != nil {
		return fmt.Errorf("etcdconfig: reading %s: %w", w.s.key, err)
	}
	var kv *mvccpb.KeyValue
	if len(resp.Kvs) > 0 {
		kv = resp.Kvs[0]
	}
	if !w.deliverKey(ctx, kv) {
		return nil
	}

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range w.s.client.Watch(wctx, w.s.key, clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			if wr.CompactRevision != 0 {
				return nil // history we needed is gone: read the key again
			}
			return fmt.Errorf("etcdconfig: watching %s: %w", w.s.key, err)
		}
		for _, ev := range wr.Events {
			kv := ev.Kv
			if ev.Type == mvccpb.DELETE {
				kv = nil
			}
			if !w.deliverKey(ctx, kv) {
				return nil
			}
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("etcdconfig: watching %s: the watch ended", w.s.key)
}

// deliverKey delivers kv's value, or ErrNoKey for nil, unless it is the
// Data last delivered. It reports false when ctx ended first.
func (w *watch) deliverKey(ctx context.Context, kv *mvccpb.KeyValue) bool {
	if kv == nil {
		return w.deliver(ctx, configsource.Document{Err: fmt.Errorf("%w: %s", ErrNoKey, w.s.key)})
	}
	if w.last != nil && bytes.Equal(kv.Value, w.last) {
		return true
	}
	data := kv.Value
	if data == nil {
		data = []byte{} // an empty document, not an error's missing Data
	}
	return w.deliver(ctx, configsource.Document{Data: data, Version: strconv.FormatInt(kv.ModRevision, 10)})
}

// deliver sends d, or reports false when ctx ended first.
func (w *watch) deliver(ctx context.Context, d configsource.Document) bool {
	select {
	case w.ch <- d:
		w.last = d.Data
		return true
	case <-ctx.Done():
		return false
	}
}
