package eventsource

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/retry"
)

// Aggregate is an aggregate's state as rebuilt from its stream.
type Aggregate[S any] struct {
	// ID identifies the aggregate; its stream is the repository's
	// StreamPrefix followed by ID.
	ID string
	// Version is the version of the last event applied: the version Save
	// expects the stream to be at. 0 for an aggregate without events.
	Version int64
	// Position is the global position of that event (0 for an aggregate
	// without events). After Save or Handle it is the position of the last
	// event saved: what a query passes to wait until read models built
	// from the global log include the command's effect.
	Position int64
	// State is the result of applying every event to the initial state.
	State S
}

// RepositoryConfig configures a Repository of aggregates with state S. The
// zero value is the default configuration (see DefaultRepositoryConfig):
// each field's zero value means the default its comment names.
type RepositoryConfig[S any] struct {
	// Name names the repository in its events (see Retried,
	// SnapshotFailed).
	Name string
	// Observer receives the repository's events; nil reports none.
	Observer bulwark.Observer
	// StreamPrefix comes before the aggregate ID in its stream ID, e.g.
	// "account-". Empty (the default) uses the ID alone.
	StreamPrefix string
	// New returns the state of an aggregate before its first event. Nil
	// starts from the zero S.
	New func() S
	// MaxAttempts bounds Handle's tries of load-decide-save, including the
	// first; 0 means 5, else in [1, 1000].
	MaxAttempts int
	// Backoff chooses the wait before each retry of Handle (after a
	// version conflict, or an append whose outcome is unknown); nil means
	// retry.Exponential{Initial: 5 * time.Millisecond, Jitter:
	// retry.FullJitter}, which spreads writers that collided on one
	// aggregate. retry.Constant{} retries at once.
	Backoff retry.Backoff
	// MaxDelay caps those waits; 0 means 1s, else in (0, 24h].
	MaxDelay time.Duration

	// Snapshots, if set, is where snapshots are loaded from and saved to.
	// Off at nil. State must survive a round trip through the registry's
	// codec (with JSON: exported fields, or MarshalJSON/UnmarshalJSON).
	Snapshots SnapshotStore
	// SnapshotEvery saves a snapshot whenever a Save takes the stream past
	// a multiple of this many events; 0 (the default) turns it off, else
	// at least 1. It needs Snapshots.
	SnapshotEvery int
	// SnapshotWhen, if set, saves a snapshot after any Save for which it
	// returns true, given the aggregate after the save and the events
	// saved. It needs Snapshots.
	SnapshotWhen func(agg Aggregate[S], saved []any) bool
	// SnapshotSchema is the version of the shape of S, 0 or more. Change
	// it when S or Evolve changes meaning: snapshots of another version are
	// ignored (replaced by a full replay), never decoded into the wrong
	// shape.
	SnapshotSchema int

	// Clock times the waits between tries. Nil uses clock.System.
	Clock clock.Clock
	// Logger receives a warning for each snapshot not used or not saved
	// (also reported as SnapshotFailed). Nil uses slog.Default().
	Logger *slog.Logger
}

// DefaultRepositoryConfig returns the configuration the zero
// RepositoryConfig stands for, spelled out: MaxAttempts 5, jittered
// exponential waits from 5ms up to 1s, snapshots off.
func DefaultRepositoryConfig[S any]() RepositoryConfig[S] {
	return RepositoryConfig[S]{
		MaxAttempts: 5,
		Backoff:     retry.Exponential{Initial: 5 * time.Millisecond, Jitter: retry.FullJitter},
		MaxDelay:    time.Second,
		Clock:       clock.System,
		Logger:      slog.Default(),
	}
}

// Repository loads and saves aggregates with state S in a Store.
type Repository[S any] struct {
	store    Store
	registry *Registry
	evolve   func(state S, event any) S
	cfg      RepositoryConfig[S]
}

// ErrSnapshotUnusable is the error of a SnapshotFailed event (wrapped, with
// the reason) when a snapshot was found but not used: of another schema
// version, undecodable, or not matching the stream's history.
var ErrSnapshotUnusable = errors.New("eventsource: snapshot not usable")

// NewRepository returns a Repository of the aggregates whose events are in
// store, encoded and decoded by registry, with evolve applying one decoded
// event to a state and returning the new state (it must be deterministic:
// it is called again for the same events on every load). It returns an
// error naming a nil parameter or the first invalid setting.
func NewRepository[S any](store Store, registry *Registry, evolve func(state S, event any) S, cfg RepositoryConfig[S]) (*Repository[S], error) {
	switch {
	case store == nil:
		return nil, errors.New("eventsource: NewRepository needs a Store (store is nil)")
	case registry == nil:
		return nil, errors.New("eventsource: NewRepository needs a Registry (registry is nil)")
	case evolve == nil:
		return nil, errors.New("eventsource: NewRepository needs an evolve function (evolve is nil)")
	case cfg.SnapshotEvery < 0:
		return nil, fmt.Errorf("eventsource: RepositoryConfig.SnapshotEvery must be 0 (off) or more, got %d", cfg.SnapshotEvery)
	case cfg.SnapshotSchema < 0:
		return nil, fmt.Errorf("eventsource: RepositoryConfig.SnapshotSchema must be 0 or more, got %d", cfg.SnapshotSchema)
	case (cfg.SnapshotEvery > 0 || cfg.SnapshotWhen != nil) && cfg.Snapshots == nil:
		return nil, errors.New("eventsource: RepositoryConfig.SnapshotEvery and SnapshotWhen need RepositoryConfig.Snapshots")
	}
	for _, err := range []error{
		checkInt("RepositoryConfig.MaxAttempts", cfg.MaxAttempts, 1, 1000, 5),
		checkDuration("RepositoryConfig.MaxDelay", cfg.MaxDelay, maxWait, time.Second),
		checkBackoff("RepositoryConfig.Backoff", cfg.Backoff),
	} {
		if err != nil {
			return nil, err
		}
	}
	d := DefaultRepositoryConfig[S]()
	cfg.MaxAttempts = orDefault(cfg.MaxAttempts, d.MaxAttempts)
	cfg.MaxDelay = orDefault(cfg.MaxDelay, d.MaxDelay)
	cfg.Backoff = cmp.Or(cfg.Backoff, d.Backoff)
	cfg.Clock = clock.OrSystem(cfg.Clock)
	cfg.Logger = cmp.Or(cfg.Logger, d.Logger)
	return &Repository[S]{store: store, registry: registry, evolve: evolve, cfg: cfg}, nil
}

func (r *Repository[S]) check() {
	if r.store == nil {
		panic("eventsource: Repository used without NewRepository")
	}
}

// StreamID returns the stream ID of the aggregate id.
func (r *Repository[S]) StreamID(id string) string {
	r.check()
	return r.cfg.StreamPrefix + id
}

func (r *Repository[S]) initial() S {
	if r.cfg.New != nil {
		return r.cfg.New()
	}
	var s S
	return s
}

// Load rebuilds the aggregate id: from its latest usable snapshot and the
// events after it, or from all its events. An aggregate without events has
// Version 0 and the initial state. A snapshot that cannot be used is
// reported and replaced by a full replay; an event that cannot be decoded
// fails the load with a *DecodeError.
func (r *Repository[S]) Load(ctx context.Context, id string) (Aggregate[S], error) {
	r.check()
	if id == "" {
		return Aggregate[S]{}, invalidf("aggregate ID is empty")
	}
	stream := r.StreamID(id)
	if r.cfg.Snapshots != nil {
		agg, ok, err := r.loadFromSnapshot(ctx, id, stream)
		if ok || err != nil {
			return agg, err
		}
	}
	agg := Aggregate[S]{ID: id, State: r.initial()}
	for e, err := range r.store.ReadStream(ctx, stream, 1) {
		if err != nil {
			return Aggregate[S]{}, fmt.Errorf("eventsource: loading %q: %w", stream, err)
		}
		if err := r.apply(&agg, e); err != nil {
			return Aggregate[S]{}, err
		}
	}
	return agg, nil
}

// loadFromSnapshot loads the aggregate from its snapshot. It reports false
// (and no error) when there is no usable snapshot, after telling why.
func (r *Repository[S]) loadFromSnapshot(ctx context.Context, id, stream string) (Aggregate[S], bool, error) {
	snap, found, err := r.cfg.Snapshots.LoadSnapshot(ctx, stream)
	switch {
	case err != nil && ctx.Err() != nil:
		return Aggregate[S]{}, false, fmt.Errorf("eventsource: loading %q: %w", stream, ctx.Err())
	case err != nil:
		r.snapshotFailed(ctx, stream, fmt.Errorf("loading the snapshot: %w", err))
		return Aggregate[S]{}, false, nil
	case !found:
		return Aggregate[S]{}, false, nil
	case snap.SchemaVersion != r.cfg.SnapshotSchema:
		r.snapshotFailed(ctx, stream, fmt.Errorf("%w: it has schema version %d, the repository %d", ErrSnapshotUnusable, snap.SchemaVersion, r.cfg.SnapshotSchema))
		return Aggregate[S]{}, false, nil
	}
	agg := Aggregate[S]{ID: id, State: r.initial()}
	if err := r.registry.codec.Unmarshal(snap.Data, &agg.State); err != nil {
		r.snapshotFailed(ctx, stream, fmt.Errorf("%w: decoding version %d: %v", ErrSnapshotUnusable, snap.StreamVersion, err))
		return Aggregate[S]{}, false, nil
	}
	// The stream must still hold the event the snapshot was taken after:
	// read from that version and check it before applying the rest.
	checked := false
	for e, err := range r.store.ReadStream(ctx, stream, snap.StreamVersion) {
		if err != nil {
			return Aggregate[S]{}, false, fmt.Errorf("eventsource: loading %q: %w", stream, err)
		}
		if !checked {
			if e.StreamVersion != snap.StreamVersion || e.ID != snap.EventID {
				break
			}
			checked = true
			agg.Version, agg.Position = e.StreamVersion, e.GlobalPosition
			continue
		}
		if err := r.apply(&agg, e); err != nil {
			return Aggregate[S]{}, false, err
		}
	}
	if !checked {
		r.snapshotFailed(ctx, stream, fmt.Errorf("%w: the stream has no event %s at version %d", ErrSnapshotUnusable, snap.EventID, snap.StreamVersion))
		return Aggregate[S]{}, false, nil
	}
	return agg, true, nil
}

func (r *Repository[S]) apply(agg *Aggregate[S], e Event) error {
	events, err := r.registry.Decode(e)
	if err != nil {
		return err
	}
	for _, ev := range events {
		agg.State = r.evolve(agg.State, ev)
	}
	agg.Version, agg.Position = e.StreamVersion, e.GlobalPosition
	return nil
}

// Save appends events to the aggregate's stream, expecting it at
// agg.Version, with the metadata of ctx (see ContextWithMetadata). On
// success it applies them to agg (State and Version) and saves a snapshot
// when the configuration asks for one; a snapshot that fails to save is
// reported, not returned. When another writer appended first, Save returns
// a *VersionConflictError (errors.Is ErrVersionConflict) and leaves agg
// unchanged: load again and decide again, or use Handle.
func (r *Repository[S]) Save(ctx context.Context, agg *Aggregate[S], events ...any) error {
	r.check()
	if len(events) == 0 {
		return nil
	}
	data, err := r.encode(ctx, events)
	if err != nil {
		return err
	}
	return r.commit(ctx, agg, data, events)
}

func (r *Repository[S]) encode(ctx context.Context, events []any) ([]EventData, error) {
	md := MetadataFromContext(ctx)
	data := make([]EventData, len(events))
	for i, e := range events {
		d, err := r.registry.Encode(e, md)
		if err != nil {
			return nil, err
		}
		data[i] = d
	}
	return data, nil
}

func (r *Repository[S]) commit(ctx context.Context, agg *Aggregate[S], data []EventData, events []any) error {
	if agg.ID == "" {
		return invalidf("aggregate ID is empty")
	}
	stream := r.StreamID(agg.ID)
	res, err := r.store.Append(ctx, stream, ExpectedVersion(agg.Version), data...)
	if err != nil {
		return err
	}
	before := agg.Version
	for _, e := range events {
		agg.State = r.evolve(agg.State, e)
	}
	agg.Version, agg.Position = res.StreamVersion, res.GlobalPosition
	every := int64(r.cfg.SnapshotEvery)
	if (every > 0 && agg.Version/every > before/every) || (r.cfg.SnapshotWhen != nil && r.cfg.SnapshotWhen(*agg, events)) {
		r.saveSnapshot(ctx, stream, *agg, data[len(data)-1])
	}
	return nil
}

func (r *Repository[S]) saveSnapshot(ctx context.Context, stream string, agg Aggregate[S], last EventData) {
	data, err := r.registry.codec.Marshal(agg.State)
	if err == nil {
		err = r.cfg.Snapshots.SaveSnapshot(ctx, Snapshot{
			StreamID:      stream,
			StreamVersion: agg.Version,
			EventID:       last.ID,
			SchemaVersion: r.cfg.SnapshotSchema,
			Data:          data,
		})
	}
	if err != nil {
		r.snapshotFailed(ctx, stream, fmt.Errorf("saving the snapshot of version %d: %w", agg.Version, err))
	}
}

func (r *Repository[S]) snapshotFailed(ctx context.Context, stream string, err error) {
	r.cfg.Logger.WarnContext(ctx, "eventsource: snapshot not used or saved", "repository", r.cfg.Name, "stream", stream, "error", err)
	if r.cfg.Observer != nil {
		r.cfg.Observer.Observe(ctx, SnapshotFailed{Name: r.cfg.Name, StreamID: stream, Err: err})
	}
}

// Handle runs one command on the aggregate id: it loads the aggregate,
// calls decide with its state, and saves the events decide returns (none:
// nothing to save). When another writer appended first, it loads and decides
// again, up to MaxAttempts tries in all. When an append fails with an
// unknown outcome (a timeout, a lost connection), it retries that same
// append, with the same event IDs, so that a decision is never stored twice
// even if the failed attempt did commit. Before each retry it reports
// Retried and waits as Backoff says (bounded by ctx).
//
// It returns the aggregate after the save, decide's error as it is, or the
// last error once the attempts are spent (a conflict still matches
// ErrVersionConflict).
func (r *Repository[S]) Handle(ctx context.Context, id string, decide func(state S) ([]any, error)) (Aggregate[S], error) {
	r.check()
	var (
		attempt int
		prev    time.Duration // the last wait
	)
	// again reports whether to try again after attempt failed with err,
	// having waited.
	again := func(err error) (bool, error) {
		if attempt == r.cfg.MaxAttempts || ctx.Err() != nil {
			return false, nil
		}
		wait := r.cfg.Backoff.Wait(attempt, prev, r.cfg.MaxDelay)
		prev = wait
		if r.cfg.Observer != nil {
			r.cfg.Observer.Observe(ctx, Retried{Name: r.cfg.Name, ID: id, StreamID: r.StreamID(id), Attempt: attempt, Err: err, Wait: wait})
		}
		if serr := clock.Sleep(ctx, r.cfg.Clock, wait); serr != nil {
			return false, fmt.Errorf("eventsource: %q: attempt %d failed (%v) and the wait before the next ended: %w", r.StreamID(id), attempt, err, serr)
		}
		attempt++
		return true, nil
	}
	attempt = 1
	for {
		agg, err := r.Load(ctx, id)
		if err != nil {
			return agg, err
		}
		events, err := decide(agg.State)
		if err != nil || len(events) == 0 {
			return agg, err
		}
		data, err := r.encode(ctx, events)
		if err != nil {
			return agg, err
		}
		for {
			err = r.commit(ctx, &agg, data, events)
			if err == nil {
				return agg, nil
			}
			if !unknownOutcome(err) {
				break
			}
			retry, werr := again(err)
			if werr != nil {
				return agg, werr
			}
			if !retry {
				return agg, err
			}
		}
		if !errors.Is(err, ErrVersionConflict) {
			return agg, err
		}
		retry, werr := again(err)
		switch {
		case werr != nil:
			return agg, werr
		case !retry && attempt == r.cfg.MaxAttempts:
			return agg, fmt.Errorf("eventsource: %q: giving up after %d attempts: %w", r.StreamID(id), attempt, err)
		case !retry:
			return agg, err
		}
	}
}

// unknownOutcome reports whether an append error may hide a commit: any
// error but a refusal the store made knowing the state.
func unknownOutcome(err error) bool {
	for _, known := range []error{ErrVersionConflict, ErrDuplicateEvent, ErrInvalid, ErrUnknownEventType} {
		if errors.Is(err, known) {
			return false
		}
	}
	return true
}
