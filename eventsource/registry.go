package eventsource

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
)

// Codec encodes events and snapshot states to bytes and back.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec: encoding/json.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// maxUpcasts bounds an upcasting chain, so that upcasters that turn events
// into each other in a cycle fail instead of looping.
const maxUpcasts = 32

// Registry maps Go event types to stored type names and schema versions.
//
// Each event type name has one current schema version, registered with
// Register and decoded straight into its Go type. Older schema versions are
// registered with Upcast: a Go type matching the old shape, and a function
// turning an old event into current ones (a renamed field, a renamed event,
// one event split into several). Decode applies the chain of upcasters until
// every event is current.
//
// Register and Upcast are meant for start-up, before the registry is used;
// they are safe to call at any time, and Encode and Decode are safe for
// concurrent use.
type Registry struct {
	codec Codec
	mu    sync.Mutex // serializes registrations
	table atomic.Pointer[typeTable]
}

type typeKey struct {
	name    string
	version int
}

type typeEntry struct {
	key    typeKey
	decode func(Codec, []byte) (any, error)
	upcast func(any) ([]any, error) // nil for a current version
}

// typeTable is immutable once published; registrations publish a copy.
type typeTable struct {
	byKey   map[typeKey]*typeEntry
	byGo    map[reflect.Type]*typeEntry
	current map[string]int // type name → current schema version
}

// NewRegistry returns an empty registry that encodes with codec (nil for
// JSON).
func NewRegistry(codec Codec) *Registry {
	if codec == nil {
		codec = JSON
	}
	r := &Registry{codec: codec}
	r.table.Store(&typeTable{byKey: map[typeKey]*typeEntry{}, byGo: map[reflect.Type]*typeEntry{}, current: map[string]int{}})
	return r
}

// Codec returns the codec the registry encodes with.
func (r *Registry) Codec() Codec {
	r.tables()
	return r.codec
}

// tables returns the current type table; the zero Registry panics.
func (r *Registry) tables() *typeTable {
	t := r.table.Load()
	if t == nil {
		panic("eventsource: Registry used without NewRegistry")
	}
	return t
}

// Register makes E the current schema version of the event type name: Encode
// stores values of E under name and schemaVersion, and Decode turns stored
// events of that name and version into values of E. A name has one current
// version; older ones are registered with Upcast and must be lower.
func Register[E any](r *Registry, name string, schemaVersion int) error {
	return r.add(reflect.TypeFor[E](), typeKey{name, schemaVersion}, decodeAs[E], nil)
}

// Upcast registers Old as the shape of schema version schemaVersion of the
// event type name, and up as the function that turns such an event into
// newer events: values of types registered with Register (current) or with
// Upcast (upcast further, in turn). up may return several events (a split)
// or none (an event that no longer matters). schemaVersion must be lower
// than the name's current version, if it has one; a name that has none
// (a renamed event) may have only upcasters.
func Upcast[Old any](r *Registry, name string, schemaVersion int, up func(Old) ([]any, error)) error {
	if up == nil {
		return invalidf("Upcast of %q version %d: the upcaster function is nil", name, schemaVersion)
	}
	return r.add(reflect.TypeFor[Old](), typeKey{name, schemaVersion}, decodeAs[Old], func(v any) ([]any, error) {
		return up(v.(Old))
	})
}

func decodeAs[E any](c Codec, data []byte) (any, error) {
	var v E
	if err := c.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return v, nil
}

func (r *Registry) add(t reflect.Type, key typeKey, decode func(Codec, []byte) (any, error), upcast func(any) ([]any, error)) error {
	what := "Register"
	if upcast != nil {
		what = "Upcast"
	}
	if err := checkText("event type", key.name, MaxTypeLen); err != nil {
		return invalidf("%s %v: %v", what, t, err)
	}
	if key.version < 1 {
		return invalidf("%s %v as %q: schema version %d; versions start at 1", what, t, key.name, key.version)
	}
	if t.Kind() == reflect.Interface {
		return invalidf("%s %v as %q: an event type must be a concrete type", what, t, key.name)
	}
	r.tables()
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.table.Load()
	if e, ok := old.byGo[t]; ok {
		return invalidf("%s %v as %q version %d: it is already registered as %q version %d", what, t, key.name, key.version, e.key.name, e.key.version)
	}
	if _, ok := old.byKey[key]; ok {
		return invalidf("%s %v: %q version %d is already registered", what, t, key.name, key.version)
	}
	cur, hasCurrent := old.current[key.name]
	if upcast == nil && hasCurrent {
		return invalidf("Register %v as %q version %d: version %d is already current; register older versions with Upcast", t, key.name, key.version, cur)
	}
	for k := range old.byKey {
		if k.name != key.name {
			continue
		}
		if (upcast == nil && k.version > key.version) || (upcast != nil && hasCurrent && key.version > cur) {
			return invalidf("%s %v as %q version %d: upcast versions must be lower than the current one", what, t, key.name, key.version)
		}
	}
	next := &typeTable{
		byKey:   make(map[typeKey]*typeEntry, len(old.byKey)+1),
		byGo:    make(map[reflect.Type]*typeEntry, len(old.byGo)+1),
		current: make(map[string]int, len(old.current)+1),
	}
	for k, v := range old.byKey {
		next.byKey[k] = v
	}
	for k, v := range old.byGo {
		next.byGo[k] = v
	}
	for k, v := range old.current {
		next.current[k] = v
	}
	e := &typeEntry{key: key, decode: decode, upcast: upcast}
	next.byKey[key], next.byGo[t] = e, e
	if upcast == nil {
		next.current[key.name] = key.version
	}
	r.table.Store(next)
	return nil
}

// Encode makes EventData of the event v, a value of a type registered with
// Register, with a new time-ordered (version 7) UUID and the metadata md.
func (r *Registry) Encode(v any, md Metadata) (EventData, error) {
	e, ok := r.tables().byGo[reflect.TypeOf(v)]
	switch {
	case !ok:
		return EventData{}, fmt.Errorf("%w: %T is not registered", ErrUnknownEventType, v)
	case e.upcast != nil:
		return EventData{}, invalidf("%T is schema version %d of %q, registered with Upcast: only the current version is encoded", v, e.key.version, e.key.name)
	}
	data, err := r.codec.Marshal(v)
	if err != nil {
		return EventData{}, fmt.Errorf("eventsource: encoding %T as %q: %w", v, e.key.name, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return EventData{}, fmt.Errorf("eventsource: making an event ID: %w", err)
	}
	return EventData{ID: id, Type: e.key.name, SchemaVersion: e.key.version, Data: data, Metadata: md}, nil
}

// Decode turns a stored event into current events: one value of the type
// registered for its name and schema version, or, for an older version,
// what the chain of upcasters makes of it (possibly several events, or
// none). A failure is a *DecodeError naming the stream, version and type;
// an unregistered type or version also matches ErrUnknownEventType.
func (r *Registry) Decode(e Event) ([]any, error) {
	out, err := r.decode(e)
	if err != nil {
		return nil, &DecodeError{StreamID: e.StreamID, StreamVersion: e.StreamVersion, Type: e.Type, SchemaVersion: e.SchemaVersion, Err: err}
	}
	return out, nil
}

func (r *Registry) decode(e Event) ([]any, error) {
	t := r.tables()
	key := typeKey{e.Type, e.SchemaVersion}
	entry, ok := t.byKey[key]
	if !ok {
		return nil, t.unknown(key)
	}
	v, err := entry.decode(r.codec, e.Data)
	if err != nil {
		return nil, err
	}
	if entry.upcast == nil {
		return []any{v}, nil
	}
	return t.upcast(entry, v, nil, 0)
}

// upcast appends to out the current events that entry's upcaster, and those
// after it, make of v.
func (t *typeTable) upcast(entry *typeEntry, v any, out []any, depth int) ([]any, error) {
	if depth == maxUpcasts {
		return nil, fmt.Errorf("upcasting chain longer than %d steps; do upcasters turn events into each other?", maxUpcasts)
	}
	next, err := entry.upcast(v)
	if err != nil {
		return nil, fmt.Errorf("upcasting %q version %d: %w", entry.key.name, entry.key.version, err)
	}
	for _, n := range next {
		ne, ok := t.byGo[reflect.TypeOf(n)]
		if !ok {
			return nil, fmt.Errorf("%w: the upcaster of %q version %d returned %T, which is not registered", ErrUnknownEventType, entry.key.name, entry.key.version, n)
		}
		if ne.upcast == nil {
			out = append(out, n)
			continue
		}
		if out, err = t.upcast(ne, n, out, depth+1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *typeTable) unknown(key typeKey) error {
	cur, ok := t.current[key.name]
	switch {
	case ok && key.version > cur:
		return fmt.Errorf("%w: schema version %d is newer than the current version %d known to this program", ErrUnknownEventType, key.version, cur)
	case ok:
		return fmt.Errorf("%w: no upcaster from schema version %d (current is %d)", ErrUnknownEventType, key.version, cur)
	}
	for k := range t.byKey {
		if k.name == key.name {
			return fmt.Errorf("%w: no upcaster from schema version %d", ErrUnknownEventType, key.version)
		}
	}
	return fmt.Errorf("%w: %q is not registered", ErrUnknownEventType, key.name)
}
