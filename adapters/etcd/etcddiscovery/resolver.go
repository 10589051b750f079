package etcddiscovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/discovery"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Resolver is a discovery.Resolver over the instances registered in etcd
// under Config.Prefix (by Registration, or by anything that writes the same
// keys: <Prefix>/<service>/<addr> holding the endpoint as JSON).
//
// Each Watch reads the service's keys and delivers the whole set, then
// follows it with an etcd watch from the revision after that read, and
// delivers the new set after each change. A watcher that reads slowly
// receives the latest set: sets it has not read are replaced, not queued.
// When the watch breaks it reads the keys again; when a read fails it
// delivers the error in an Update (the last set stands) and retries after
// Config.Backoff. A key whose value is not an endpoint is left out of the
// set and logged. A service name that is empty or contains "/" cannot be
// watched.
type Resolver struct {
	client *clientv3.Client
	cfg    Config
}

var _ discovery.Resolver = (*Resolver)(nil)

// New returns a Resolver reading through client. A nil client or an
// invalid setting is an error naming it.
func New(client *clientv3.Client, cfg Config) (*Resolver, error) {
	if client == nil {
		return nil, errors.New("etcddiscovery: New: client must not be nil")
	}
	cfg, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	return &Resolver{client: client, cfg: cfg}, nil
}

// Watch implements discovery.Resolver. Its goroutine ends, and the channel
// closes, when ctx ends.
func (r *Resolver) Watch(ctx context.Context, service string) (<-chan discovery.Update, error) {
	if r == nil || r.client == nil {
		panic("etcddiscovery: Resolver used without New")
	}
	prefix, err := servicePrefix(r.cfg.Prefix, service)
	if err != nil {
		return nil, err
	}
	w := &watch{r: r, prefix: prefix, ch: make(chan discovery.Update, 1)}
	go w.run(ctx)
	return w.ch, nil
}

// watch follows one service for one caller.
type watch struct {
	r      *Resolver
	prefix string
	ch     chan discovery.Update
	last   []discovery.Endpoint // the set last offered; nil before the first
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
		w.offer(discovery.Update{Err: err})
		w.last = nil // offer the set again once it is read
		wait := w.r.cfg.Backoff.Wait(failures, 0, w.r.cfg.MaxDelay)
		if clock.Sleep(ctx, w.r.cfg.Clock, wait) != nil {
			return
		}
	}
}

// follow reads the service's keys, offers the set and follows changes until
// the watch breaks (nil: read again at once) or fails (the error).
func (w *watch) follow(ctx context.Context) error {
	rctx, cancelRead := context.WithTimeout(ctx, w.r.cfg.Timeout)
	resp, err := w.r.client.Get(rctx, w.prefix, clientv3.WithPrefix())
	cancelRead()
	if err != nil {
		return fmt.Errorf("etcddiscovery: reading %s: %w", w.prefix, err)
	}
	byAddr := make(map[string]discovery.Endpoint, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		w.put(byAddr, kv)
	}
	w.offerSet(byAddr)

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range w.r.client.Watch(wctx, w.prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			if wr.CompactRevision != 0 {
				return nil // history we needed is gone: read the keys again
			}
			return fmt.Errorf("etcddiscovery: watching %s: %w", w.prefix, err)
		}
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.DELETE {
				delete(byAddr, strings.TrimPrefix(string(ev.Kv.Key), w.prefix))
				continue
			}
			w.put(byAddr, ev.Kv)
		}
		if len(wr.Events) > 0 {
			w.offerSet(byAddr)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("etcddiscovery: watching %s: the watch ended", w.prefix)
}

// put decodes kv into byAddr, or logs why it cannot and leaves it out.
func (w *watch) put(byAddr map[string]discovery.Endpoint, kv *mvccpb.KeyValue) {
	addr := strings.TrimPrefix(string(kv.Key), w.prefix)
	ep, err := decode(addr, kv.Value)
	if err != nil {
		delete(byAddr, addr)
		w.r.cfg.Logger.Warn("etcddiscovery: key left out of the set", "key", string(kv.Key), "error", err)
		return
	}
	byAddr[addr] = ep
}

// decode reads an endpoint stored under addr: its JSON, whose Addr, when
// set, must be addr.
func decode(addr string, value []byte) (discovery.Endpoint, error) {
	var ep discovery.Endpoint
	if err := json.Unmarshal(value, &ep); err != nil {
		return ep, fmt.Errorf("value is not an endpoint as JSON: %w", err)
	}
	switch {
	case ep.Addr == "":
		ep.Addr = addr
	case ep.Addr != addr:
		return ep, fmt.Errorf("value's addr %q is not the key's %q", ep.Addr, addr)
	}
	if _, err := discovery.Normalize([]discovery.Endpoint{ep}); err != nil {
		return ep, err
	}
	return ep, nil
}

// offerSet offers the set in byAddr when it differs from the last offered.
func (w *watch) offerSet(byAddr map[string]discovery.Endpoint) {
	set, _ := discovery.Normalize(slices.Collect(maps.Values(byAddr))) // every endpoint was checked by decode
	if w.last != nil && slices.EqualFunc(set, w.last, sameEndpoint) {
		return
	}
	w.last = set
	w.offer(discovery.Update{Endpoints: set})
}

func sameEndpoint(a, b discovery.Endpoint) bool {
	return a.Addr == b.Addr && maps.Equal(a.Meta, b.Meta)
}

// offer replaces an unread update with u. Only run sends on w.ch, so the
// send after the drain never blocks.
func (w *watch) offer(u discovery.Update) {
	select {
	case <-w.ch:
	default:
	}
	w.ch <- u
}
