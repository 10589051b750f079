package eventsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// RepositoryConfig configures a Repository of aggregates with state S.
type RepositoryConfig[S any] struct {
	// Store holds the events. Required.
	Store Store
	// Registry encodes and decodes the events, and (with its codec)
	// snapshots. Required.
	Registry *Registry
	// StreamPrefix comes before the aggregate ID in its stream ID, e.g.
	// "account-". Empty uses the ID alone.
	StreamPrefix string
	// New returns the state of an aggregate before its first event. Nil
	// starts from the zero S.
	New func() S
	// Evolve applies one decoded event to a state and returns the new
	// state. It must be deterministic: it is called again for the same
	// events on every load. Required.
	Evolve func(state S, event any) S
	// MaxAttempts bounds Handle's tries of load-decide-save, including the
	// first; at least 1. DefaultRepositoryConfig sets 5.
	MaxAttempts int
	// OnRetry, if set, is called before Handle tries again, with the
	// attempt that failed and its error (a version conflict, or an append
	// whose outcome is unknown).
	OnRetry func(id string, attempt int, err error)

	// Snapshots, if set, is where snapshots are loaded from and saved to.
	// Off at nil. State must survive a round trip through the registry's
	// codec (with JSON: exported fields, or MarshalJSON/UnmarshalJSON).
	Snapshots SnapshotStore
	// SnapshotEvery saves a snapshot whenever a Save takes the stream past
	// a multiple of this many events. 0 turns it off.
	SnapshotEvery int
	// SnapshotWhen, if set, saves a snapshot after any Save for which it
	// returns true, given the aggregate after the save and the events
	// saved.
	SnapshotWhen func(agg Aggregate[S], saved []any) bool
	// SnapshotSchema is the version of the shape of S. Change it when S or
	// Evolve changes meaning: snapshots of another version are ignored
	// (replaced by a full replay), never decoded into the wrong shape.
	SnapshotSchema int
	// OnSnapshotError, if set, is called when a snapshot cannot be used
	// (stale, of another schema, undecodable, or the load failed) and Load
	// falls back to a full replay, or when saving one fails. Both are also
	// logged at Warn level.
	OnSnapshotError func(streamID string, err error)
	// Logger receives those warnings. Nil uses slog.Default().
	Logger *slog.Logger
}

// DefaultRepositoryConfig returns a configuration with MaxAttempts 5 and
// snapshots off; set Store, Registry and Evolve.
func DefaultRepositoryConfig[S any]() RepositoryConfig[S] {
	return RepositoryConfig[S]{MaxAttempts: 5}
}

// Repository loads and saves aggregates with state S in a Store.
type Repository[S any] struct {
	cfg RepositoryConfig[S]
}

// ErrSnapshotUnusable is passed to OnSnapshotError (wrapped, with the
// reason) when a snapshot was found but not used: of another schema version,
// undecodable, or not matching the stream's history.
var ErrSnapshotUnusable = errors.New("eventsource: snapshot not usable")

// NewRepository returns a Repository, or an error naming the first invalid
// setting.
func NewRepository[S any](cfg RepositoryConfig[S]) (*Repository[S], error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("eventsource: RepositoryConfig.Store must be set")
	case cfg.Registry == nil:
		return nil, errors.New("eventsource: RepositoryConfig.Registry must be set")
	case cfg.Evolve == nil:
		return nil, errors.New("eventsource: RepositoryConfig.Evolve must be set")
	case cfg.MaxAttempts < 1:
		return nil, fmt.Errorf("eventsource: RepositoryConfig.MaxAttempts must be at least 1, got %d", cfg.MaxAttempts)
	case cfg.SnapshotEvery < 0:
		return nil, fmt.Errorf("eventsource: RepositoryConfig.SnapshotEvery must be 0 (off) or more, got %d", cfg.SnapshotEvery)
	case (cfg.SnapshotEvery > 0 || cfg.SnapshotWhen != nil) && cfg.Snapshots == nil:
		return nil, errors.New("eventsource: RepositoryConfig.SnapshotEvery and SnapshotWhen need RepositoryConfig.Snapshots")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Repository[S]{cfg: cfg}, nil
}

// StreamID returns the stream ID of the aggregate id.
func (r *Repository[S]) StreamID(id string) string { return r.cfg.StreamPrefix + id }

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
	for e, err := range r.cfg.Store.ReadStream(ctx, stream, 1) {
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
		r.snapshotFailed(stream, fmt.Errorf("loading the snapshot: %w", err))
		return Aggregate[S]{}, false, nil
	case !found:
		return Aggregate[S]{}, false, nil
	case snap.SchemaVersion != r.cfg.SnapshotSchema:
		r.snapshotFailed(stream, fmt.Errorf("%w: it has schema version %d, the repository %d", ErrSnapshotUnusable, snap.SchemaVersion, r.cfg.SnapshotSchema))
		return Aggregate[S]{}, false, nil
	}
	agg := Aggregate[S]{ID: id, State: r.initial()}
	if err := r.cfg.Registry.codec.Unmarshal(snap.Data, &agg.State); err != nil {
		r.snapshotFailed(stream, fmt.Errorf("%w: decoding version %d: %v", ErrSnapshotUnusable, snap.StreamVersion, err))
		return Aggregate[S]{}, false, nil
	}
	// The stream must still hold the event the snapshot was taken after:
	// read from that version and check it before applying the rest.
	checked := false
	for e, err := range r.cfg.Store.ReadStream(ctx, stream, snap.StreamVersion) {
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
		r.snapshotFailed(stream, fmt.Errorf("%w: the stream has no event %s at version %d", ErrSnapshotUnusable, snap.EventID, snap.StreamVersion))
		return Aggregate[S]{}, false, nil
	}
	return agg, true, nil
}

func (r *Repository[S]) apply(agg *Aggregate[S], e Event) error {
	events, err := r.cfg.Registry.Decode(e)
	if err != nil {
		return err
	}
	for _, ev := range events {
		agg.State = r.cfg.Evolve(agg.State, ev)
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
		d, err := r.cfg.Registry.Encode(e, md)
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
	res, err := r.cfg.Store.Append(ctx, stream, ExpectedVersion(agg.Version), data...)
	if err != nil {
		return err
	}
	before := agg.Version
	for _, e := range events {
		agg.State = r.cfg.Evolve(agg.State, e)
	}
	agg.Version, agg.Position = res.StreamVersion, res.GlobalPosition
	every := int64(r.cfg.SnapshotEvery)
	if (every > 0 && agg.Version/every > before/every) || (r.cfg.SnapshotWhen != nil && r.cfg.SnapshotWhen(*agg, events)) {
		r.saveSnapshot(ctx, stream, *agg, data[len(data)-1])
	}
	return nil
}

func (r *Repository[S]) saveSnapshot(ctx context.Context, stream string, agg Aggregate[S], last EventData) {
	data, err := r.cfg.Registry.codec.Marshal(agg.State)
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
		r.snapshotFailed(stream, fmt.Errorf("saving the snapshot of version %d: %w", agg.Version, err))
	}
}

func (r *Repository[S]) snapshotFailed(stream string, err error) {
	r.cfg.Logger.Warn("eventsource: snapshot not used or saved", "stream", stream, "error", err)
	if r.cfg.OnSnapshotError != nil {
		r.cfg.OnSnapshotError(stream, err)
	}
}

// Handle runs one command on the aggregate id: it loads the aggregate,
// calls decide with its state, and saves the events decide returns (none:
// nothing to save). When another writer appended first, it loads and decides
// again, up to MaxAttempts tries in all. When an append fails with an
// unknown outcome (a timeout, a lost connection), it retries that same
// append, with the same event IDs, so that a decision is never stored twice
// even if the failed attempt did commit.
//
// It returns the aggregate after the save, decide's error as it is, or the
// last error once the attempts are spent (a conflict still matches
// ErrVersionConflict).
func (r *Repository[S]) Handle(ctx context.Context, id string, decide func(state S) ([]any, error)) (Aggregate[S], error) {
	attempt := 0
	for {
		attempt++
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
			if attempt == r.cfg.MaxAttempts || ctx.Err() != nil || !unknownOutcome(err) {
				break
			}
			r.retrying(id, attempt, err)
			attempt++
		}
		if !errors.Is(err, ErrVersionConflict) || attempt == r.cfg.MaxAttempts || ctx.Err() != nil {
			if errors.Is(err, ErrVersionConflict) && attempt == r.cfg.MaxAttempts {
				return agg, fmt.Errorf("eventsource: %q: giving up after %d attempts: %w", r.StreamID(id), attempt, err)
			}
			return agg, err
		}
		r.retrying(id, attempt, err)
	}
}

func (r *Repository[S]) retrying(id string, attempt int, err error) {
	if r.cfg.OnRetry != nil {
		r.cfg.OnRetry(id, attempt, err)
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
