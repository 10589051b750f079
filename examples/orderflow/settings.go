package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/etcd/etcdconfig"
	"github.com/bulwark-go/bulwark/configsource"
	"github.com/bulwark-go/bulwark/policyset"
	"github.com/bulwark-go/bulwark/timeout"
)

// settings are the processor's policy settings: a policyset document with
// one policy per downstream service ("inventory", "payments",
// "notifications"), kept in a config source — the file settings.json in
// Options.Dir (configsource.File, read every 50ms), or with -etcd one etcd
// key under the run's prefix (etcdconfig). The processor's policyset.Set
// follows the source (Run): each new version is checked as a whole before
// anything changes, and one that does not parse or apply is refused, logged
// at Error, and the settings stay as they were.
//
// The operator (the story, midway through the last phase) writes new
// versions with write; settings records which versions each consumer
// applied or refused, and every notification attempt that timed out, with
// the start of its call, for the ledger.
type settings struct {
	story  *story
	where  string
	put    func(ctx context.Context, data []byte) error
	source configsource.Source

	consumer string // the Set's name: the one consumer of the document
	set      *policyset.Set
	running  *bulwark.Group
	outcomes chan outcome // each version the set applied or refused, in order

	mu   sync.Mutex
	fact settingsFacts
}

// outcome is what the set made of one version of the document.
type outcome struct {
	consumer, version string
	err               error // nil: applied
}

// The notification call's attempt timeout before and after the live change.
const (
	notifyTimeoutBefore = time.Second
	notifyTimeoutAfter  = 3 * time.Second
)

// processorSettings is the settings document the flow starts with (and,
// with notifyTimeout notifyTimeoutAfter, the one the operator writes
// midway): for each service retry → circuit breaker → bulkhead → (hedge
// →) timeout, as downstream.go explains.
func processorSettings(phase, notifyTimeout time.Duration) *policyset.Document {
	d := func(v time.Duration) policyset.Duration { return policyset.Duration(v) }
	spec := func(attempt time.Duration) policyset.Spec {
		return policyset.Spec{
			Retry: &policyset.RetrySpec{
				MaxAttempts: 3,
				Backoff:     &policyset.BackoffSpec{Type: "exponential", Initial: d(50 * time.Millisecond), Jitter: "full"},
				MaxDelay:    d(time.Second), // a 409's Retry-After (the rest of the first attempt's lease) is cut to a second
			},
			CircuitBreaker: &policyset.BreakerSpec{
				WindowCalls: 20, MinimumCalls: 10, FailureRateThreshold: 50, ConsecutiveFailures: 5,
				// The first open wait; it doubles while the service stays down.
				OpenWait: d(phase / 5), OpenWaitMultiplier: 2, MaxOpenWait: d(3 * phase / 5),
				HalfOpenCalls: probes, HalfOpenSuccesses: 2, MaxHalfOpenWait: d(5 * time.Second),
			},
			Bulkhead: &policyset.BulkheadSpec{MaxConcurrent: 8, MaxWaiting: 64, MaxWait: d(2 * time.Second)},
			Timeout:  &policyset.TimeoutSpec{Timeout: d(attempt)},
		}
	}
	notify := spec(notifyTimeout)
	// A fixed delay: the slow spells would drag a percentile up with them.
	notify.Hedge = &policyset.HedgeSpec{Delay: d(100 * time.Millisecond), MaxHedges: 1, Percentile: -1}
	return &policyset.Document{Policies: map[string]policyset.Spec{
		"inventory":     spec(500 * time.Millisecond),
		"payments":      spec(500 * time.Millisecond),
		"notifications": notify,
	}}
}

// slot is where one consumer's settings document lives in the run's
// config source: a file in Options.Dir (configsource.File, read every
// 50ms), or with -etcd one key under the run's prefix (etcdconfig). put
// writes a new version; the consumer follows source.
type slot struct {
	source configsource.Source
	where  string
	put    func(ctx context.Context, data []byte) error
}

// openSlot opens consumer's slot: the etcd key settingsKey(consumer), or
// the file named file in o.Dir.
func openSlot(o Options, e *etcdRun, consumer, file string) (slot, error) {
	if e != nil {
		key := e.settingsKey(consumer)
		src, err := etcdconfig.New(e.client, key, etcdconfig.Config{})
		if err != nil {
			return slot{}, err
		}
		return slot{source: src, where: "etcd key " + key, put: func(ctx context.Context, data []byte) error {
			_, err := e.client.Put(ctx, key, string(data))
			return err
		}}, nil
	}
	path := filepath.Join(o.Dir, file)
	src, err := configsource.NewFile(path, configsource.FileConfig{Interval: 50 * time.Millisecond})
	if err != nil {
		return slot{}, err
	}
	return slot{source: src, where: path, put: func(_ context.Context, data []byte) error { return writeFileAtomically(path, data) }}, nil
}

// startSettings writes the first document to the source, builds the
// processor's Set from it and starts following the source. observer gets
// every policy's events besides.
func startSettings(ctx context.Context, o Options, e *etcdRun, fns map[string]policyset.Functions, observer bulwark.Observer, story *story) (*settings, error) {
	s := &settings{story: story, consumer: "processor", outcomes: make(chan outcome, 16)}
	slot, err := openSlot(o, e, s.consumer, "settings.json")
	if err != nil {
		return nil, err
	}
	s.source, s.where, s.put = slot.source, slot.where, slot.put
	first := processorSettings(o.Phase, notifyTimeoutBefore)
	data, err := json.MarshalIndent(first, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := s.put(ctx, data); err != nil {
		return nil, fmt.Errorf("writing the settings to %s: %w", s.where, err)
	}
	s.set, err = policyset.New(first, policyset.Config{
		Name:      s.consumer,
		Functions: fns,
		Source:    s.source,
		Logger: slog.New(slog.NewTextHandler(story, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		})),
		Observer: bulwark.ObserverFunc(func(ctx context.Context, ev bulwark.Event) {
			s.observe(ctx, ev)
			observer.Observe(ctx, ev)
		}),
	})
	if err != nil {
		return nil, err
	}
	s.running = bulwark.Start(context.Background(), s.set)
	// The source delivers the version just written: the set applies it
	// again (nothing changes) and the flow knows the set follows.
	out, err := s.next(ctx)
	if err != nil {
		s.close()
		return nil, err
	}
	if out.err != nil {
		s.close()
		return nil, fmt.Errorf("the first settings were refused: %w", out.err)
	}
	s.mu.Lock()
	s.fact.first = out.version
	s.mu.Unlock()
	return s, nil
}

// observe records the set's outcomes and the notification attempts that
// timed out.
func (s *settings) observe(ctx context.Context, ev bulwark.Event) {
	now := time.Now()
	switch ev := ev.(type) {
	case policyset.Applied:
		s.mu.Lock()
		s.fact.applied = append(s.fact.applied, versionAt{consumer: ev.Name, version: ev.Version, at: now})
		s.mu.Unlock()
		s.tell(outcome{consumer: ev.Name, version: ev.Version})
	case policyset.Refused:
		s.mu.Lock()
		s.fact.refused = append(s.fact.refused, versionAt{consumer: ev.Name, version: ev.Version, at: now})
		s.mu.Unlock()
		s.tell(outcome{consumer: ev.Name, version: ev.Version, err: ev.Err})
	case timeout.TimedOut:
		if ev.Name != downstreamNames[svcNotifications] {
			return
		}
		start, _ := ctx.Value(callStartKey{}).(time.Time)
		s.mu.Lock()
		s.fact.timeouts = append(s.fact.timeouts, timedOut{consumer: s.consumer, callStart: start, timeout: ev.Timeout})
		s.mu.Unlock()
	}
}

// tell hands an outcome to next without ever holding the set's Run up: an
// outcome nobody waits for (the buffer is full) is only in the facts.
func (s *settings) tell(o outcome) {
	select {
	case s.outcomes <- o:
	default:
	}
}

// next waits for the set's next outcome.
func (s *settings) next(ctx context.Context) (outcome, error) {
	select {
	case o := <-s.outcomes:
		return o, nil
	case <-s.running.Done():
		return outcome{}, fmt.Errorf("the processor's settings stopped following %s: %v", s.where, s.running.Err())
	case <-time.After(10 * time.Second):
		return outcome{}, fmt.Errorf("the processor neither applied nor refused the document in %s within 10s", s.where)
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
}

// change is the operator's live change, midway through the slow
// notifications: first a document with a mistake in it (a bulkhead limit of
// -4), which is refused as a whole, and then the corrected one, which gives
// the notification call notifyTimeoutAfter per attempt instead of
// notifyTimeoutBefore.
func (s *settings) change(ctx context.Context, phase time.Duration) error {
	bad := processorSettings(phase, notifyTimeoutAfter)
	spec := bad.Policies["notifications"]
	spec.Bulkhead = &policyset.BulkheadSpec{MaxConcurrent: -4, MaxWaiting: 64, MaxWait: policyset.Duration(2 * time.Second)}
	bad.Policies["notifications"] = spec
	before := s.set.Document()
	s.story.say("operator: writes new settings to %s: notifications timeout %v → %v, and a notifications bulkhead of -4 (a typo)",
		s.where, notifyTimeoutBefore, notifyTimeoutAfter)
	out, err := s.write(ctx, bad)
	if err != nil {
		return err
	}
	kept := reflect.DeepEqual(s.set.Document(), before) && s.notifyTimeout() == notifyTimeoutBefore
	s.mu.Lock()
	s.fact.bad, s.fact.kept = out.version, kept
	s.mu.Unlock()
	if out.err == nil {
		s.story.say("settings: the %s APPLIED version %s with the mistake in it", out.consumer, out.version)
	} else {
		s.story.say("settings: the %s refused version %s as a whole (logged above); it keeps its settings: notifications timeout still %v",
			out.consumer, out.version, s.notifyTimeout())
	}

	s.story.say("operator: writes the corrected settings: notifications timeout %v → %v", notifyTimeoutBefore, notifyTimeoutAfter)
	if out, err = s.write(ctx, processorSettings(phase, notifyTimeoutAfter)); err != nil {
		return err
	}
	if out.err != nil {
		return fmt.Errorf("the corrected settings were refused: %w", out.err)
	}
	s.mu.Lock()
	s.fact.changed = out.version
	s.fact.oldTimeout, s.fact.newTimeout = notifyTimeoutBefore, notifyTimeoutAfter
	s.mu.Unlock()
	s.story.say("settings: the %s applied version %s without a restart: notifications timeout now %v for every call that starts from here (calls in flight keep the settings they started with)",
		out.consumer, out.version, s.notifyTimeout())
	return nil
}

// write puts doc in the source and waits for the set's verdict on it.
func (s *settings) write(ctx context.Context, doc *policyset.Document) (outcome, error) {
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return outcome{}, err
	}
	if err := s.put(ctx, data); err != nil {
		return outcome{}, fmt.Errorf("writing the settings to %s: %w", s.where, err)
	}
	return s.next(ctx)
}

// notifyTimeout is the notification call's attempt timeout in force.
func (s *settings) notifyTimeout() time.Duration {
	return time.Duration(s.set.Document().Policies["notifications"].Timeout.Timeout)
}

// since tells how many notification attempts timed out, at which timeout,
// in calls started before and after the live change.
func (s *settings) since() string {
	f := s.facts()
	at := f.changedAt(s.consumer)
	if at.IsZero() {
		return "no live change was applied"
	}
	var before, after int
	var atNew int
	for _, t := range f.timeouts {
		switch {
		case t.callStart.Before(at):
			before++
		case t.timeout == f.newTimeout:
			atNew++
		default:
			after++
		}
	}
	return fmt.Sprintf("notification attempts timed out: %d in calls started before the change (at %v); in calls started after it %d at %v and %d at %v",
		before, f.oldTimeout, after, f.oldTimeout, atNew, f.newTimeout)
}

func (s *settings) facts() settingsFacts {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fact
	f.consumers = []string{s.consumer}
	f.applied = append([]versionAt(nil), f.applied...)
	f.refused = append([]versionAt(nil), f.refused...)
	f.timeouts = append([]timedOut(nil), f.timeouts...)
	return f
}

func (s *settings) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.running.Stop(ctx)
}

// settingsFacts are what the ledger reads about the live change.
type settingsFacts struct {
	consumers []string    // the Sets that follow the document
	first     string      // the version the flow started with
	applied   []versionAt // each version a consumer applied, in order
	refused   []versionAt // each version a consumer refused
	bad       string      // the version with the mistake
	kept      bool        // the settings in force after the refusal were those before it
	changed   string      // the corrected version
	// The notification call's attempt timeout before and after the change.
	oldTimeout, newTimeout time.Duration
	timeouts               []timedOut // every notification attempt that timed out
}

type versionAt struct {
	consumer, version string
	at                time.Time
}

// timedOut is one notification attempt that timed out: when its call
// started, and the timeout it ran under.
type timedOut struct {
	consumer  string // the Set whose policy timed it out
	callStart time.Time
	timeout   time.Duration
}

// changedAt is when consumer applied the corrected version (zero if never).
func (f settingsFacts) changedAt(consumer string) time.Time {
	for _, a := range f.applied {
		if a.consumer == consumer && a.version == f.changed && f.changed != "" {
			return a.at
		}
	}
	return time.Time{}
}

// callStartKey is the context key of a downstream call's start.
type callStartKey struct{}

func withCallStart(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, callStartKey{}, t)
}

// writeFileAtomically renames a complete copy of data into place, as
// configsource.File asks of its writers.
func writeFileAtomically(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".settings-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
