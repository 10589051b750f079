package eventsource_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The current events of a bank account.
type (
	Opened    struct{ Owner string }
	Deposited struct {
		Amount   int    `json:"amount"`
		Currency string `json:"currency"`
	}
	Withdrawn struct{ Amount int }
)

// Older shapes, as they were stored by earlier versions of the program.
type (
	// DepositedV1 named the amount "amt" and had no currency.
	DepositedV1 struct {
		Amt int `json:"amt"`
	}
	// DepositedV2 renamed it, still without currency.
	DepositedV2 struct {
		Amount int `json:"amount"`
	}
	// MoneyAdded is what "account.deposited" was called before.
	MoneyAdded struct {
		Sum int `json:"sum"`
	}
	// OpenedWithDeposit was split into Opened and Deposited.
	OpenedWithDeposit struct {
		Owner   string `json:"owner"`
		Initial int    `json:"initial"`
	}
	// Audited no longer matters and upcasts to nothing.
	Audited struct{}
)

// accountRegistry registers the account events, current and old.
func accountRegistry(t testing.TB) *eventsource.Registry {
	r := eventsource.NewRegistry(nil)
	for _, err := range []error{
		eventsource.Register[Opened](r, "account.opened", 1),
		eventsource.Register[Deposited](r, "account.deposited", 3),
		eventsource.Register[Withdrawn](r, "account.withdrawn", 1),
		eventsource.Upcast(r, "account.deposited", 1, func(old DepositedV1) ([]any, error) {
			return []any{DepositedV2{Amount: old.Amt}}, nil
		}),
		eventsource.Upcast(r, "account.deposited", 2, func(old DepositedV2) ([]any, error) {
			return []any{Deposited{Amount: old.Amount, Currency: "EUR"}}, nil
		}),
		eventsource.Upcast(r, "money.added", 1, func(old MoneyAdded) ([]any, error) {
			return []any{DepositedV1{Amt: old.Sum}}, nil
		}),
		eventsource.Upcast(r, "account.opened-with-deposit", 1, func(old OpenedWithDeposit) ([]any, error) {
			if old.Initial < 0 {
				return nil, fmt.Errorf("negative initial deposit %d", old.Initial)
			}
			return []any{Opened{Owner: old.Owner}, DepositedV2{Amount: old.Initial}}, nil
		}),
		eventsource.Upcast(r, "account.audited", 1, func(Audited) ([]any, error) { return nil, nil }),
	} {
		require.NoError(t, err)
	}
	return r
}

func stored(typ string, version int, data string) eventsource.Event {
	return eventsource.Event{ID: uuid.New(), StreamID: "account-7", StreamVersion: 12, Type: typ, SchemaVersion: version, Data: []byte(data)}
}

func TestRegistryEncodeDecode(t *testing.T) {
	r := accountRegistry(t)
	md := eventsource.Metadata{CorrelationID: "c", CausationID: "k", Headers: map[string]string{"h": "v"}}
	d, err := r.Encode(Deposited{Amount: 5, Currency: "USD"}, md)
	require.NoError(t, err)
	assert.Equal(t, "account.deposited", d.Type)
	assert.Equal(t, 3, d.SchemaVersion)
	assert.JSONEq(t, `{"amount":5,"currency":"USD"}`, string(d.Data))
	assert.Equal(t, md, d.Metadata)
	assert.Equal(t, uuid.Version(7), d.ID.Version(), "time-ordered IDs keep the store's ID index compact")

	again, err := r.Encode(Deposited{Amount: 5, Currency: "USD"}, md)
	require.NoError(t, err)
	assert.NotEqual(t, d.ID, again.ID)

	got, err := r.Decode(eventsource.Event{Type: d.Type, SchemaVersion: d.SchemaVersion, Data: d.Data})
	require.NoError(t, err)
	assert.Equal(t, []any{Deposited{Amount: 5, Currency: "USD"}}, got)
}

func TestRegistryUpcasting(t *testing.T) {
	r := accountRegistry(t)
	for _, tc := range []struct {
		name  string
		event eventsource.Event
		want  []any
	}{
		{"Current", stored("account.deposited", 3, `{"amount":7,"currency":"CHF"}`), []any{Deposited{7, "CHF"}}},
		{"RenamedField", stored("account.deposited", 2, `{"amount":7}`), []any{Deposited{7, "EUR"}}},
		{"Chain", stored("account.deposited", 1, `{"amt":7}`), []any{Deposited{7, "EUR"}}},
		{"RenamedEvent", stored("money.added", 1, `{"sum":9}`), []any{Deposited{9, "EUR"}}},
		{"Split", stored("account.opened-with-deposit", 1, `{"owner":"ada","initial":3}`), []any{Opened{"ada"}, Deposited{3, "EUR"}}},
		{"Dropped", stored("account.audited", 1, `{}`), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Decode(tc.event)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestRegistryDecodeErrors(t *testing.T) {
	r := accountRegistry(t)
	require.NoError(t, eventsource.Upcast(r, "bad.upcast", 1, func(struct{ X int }) ([]any, error) {
		return []any{struct{ Unregistered bool }{}}, nil
	}))
	type loopA struct{ A int }
	type loopB struct{ B int }
	require.NoError(t, eventsource.Upcast(r, "loop.a", 1, func(loopA) ([]any, error) { return []any{loopB{}}, nil }))
	require.NoError(t, eventsource.Upcast(r, "loop.b", 1, func(loopB) ([]any, error) { return []any{loopA{}}, nil }))

	for _, tc := range []struct {
		name    string
		event   eventsource.Event
		unknown bool   // matches ErrUnknownEventType
		says    string // part of the message
	}{
		{"UnknownType", stored("account.closed", 1, `{}`), true, `"account.closed" is not registered`},
		{"NewerVersion", stored("account.deposited", 4, `{}`), true, "newer than the current version 3"},
		{"NoUpcaster", stored("account.opened", 0, `{}`), true, "no upcaster from schema version 0"},
		{"UpcastOnlyName", stored("money.added", 2, `{}`), true, "no upcaster from schema version 2"},
		{"MalformedJSON", stored("account.deposited", 3, `{"amount":`), false, "unexpected end of JSON input"},
		{"WrongJSONType", stored("account.deposited", 1, `{"amt":"seven"}`), false, "cannot unmarshal string"},
		{"EmptyData", stored("account.withdrawn", 1, ``), false, "unexpected end of JSON input"},
		{"UpcasterFails", stored("account.opened-with-deposit", 1, `{"initial":-1}`), false, "negative initial deposit -1"},
		{"UpcasterReturnsUnregistered", stored("bad.upcast", 1, `{}`), true, "which is not registered"},
		{"UpcasterCycle", stored("loop.a", 1, `{}`), false, "upcasting chain longer than 32 steps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Decode(tc.event)
			require.Error(t, err)
			assert.Nil(t, got)
			var de *eventsource.DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tc.event.StreamID, de.StreamID)
			assert.Equal(t, tc.event.StreamVersion, de.StreamVersion)
			assert.Equal(t, tc.event.Type, de.Type)
			assert.Equal(t, tc.event.SchemaVersion, de.SchemaVersion)
			assert.Equal(t, tc.unknown, errors.Is(err, eventsource.ErrUnknownEventType))
			msg := err.Error()
			assert.Contains(t, msg, tc.says)
			assert.Contains(t, msg, `stream "account-7"`)
			assert.Contains(t, msg, "event 12")
			assert.Contains(t, msg, fmt.Sprintf("type %q", tc.event.Type))
		})
	}
}

func TestRegistryEncodeErrors(t *testing.T) {
	r := accountRegistry(t)
	_, err := r.Encode(Opened{}, eventsource.Metadata{})
	require.NoError(t, err)
	_, err = r.Encode(struct{ Other int }{}, eventsource.Metadata{})
	require.ErrorIs(t, err, eventsource.ErrUnknownEventType)
	_, err = r.Encode(&Opened{}, eventsource.Metadata{})
	require.ErrorIs(t, err, eventsource.ErrUnknownEventType, "a pointer is another type")
	_, err = r.Encode(nil, eventsource.Metadata{})
	require.ErrorIs(t, err, eventsource.ErrUnknownEventType)
	_, err = r.Encode(DepositedV1{}, eventsource.Metadata{})
	require.ErrorIs(t, err, eventsource.ErrInvalid, "old versions are read, never written")
	require.NoError(t, eventsource.Register[chan int](r, "unencodable", 1))
	_, err = r.Encode(make(chan int), eventsource.Metadata{})
	require.ErrorContains(t, err, "unsupported type")
}

func TestRegistryRejectsBadRegistrations(t *testing.T) {
	type fresh struct{ A int }
	type fresh2 struct{ A int }
	up := func(fresh2) ([]any, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		err  func(r *eventsource.Registry) error
		says string
	}{
		{"EmptyName", func(r *eventsource.Registry) error { return eventsource.Register[fresh](r, "", 1) }, "event type is empty"},
		{"VersionZero", func(r *eventsource.Registry) error { return eventsource.Register[fresh](r, "x", 0) }, "versions start at 1"},
		{"SameGoType", func(r *eventsource.Registry) error { return eventsource.Register[Opened](r, "other", 1) }, `already registered as "account.opened"`},
		{"SameKey", func(r *eventsource.Registry) error { return eventsource.Upcast(r, "account.deposited", 2, up) }, "already registered"},
		{"SecondCurrent", func(r *eventsource.Registry) error { return eventsource.Register[fresh](r, "account.opened", 2) }, "already current"},
		{"UpcastAboveCurrent", func(r *eventsource.Registry) error { return eventsource.Upcast(r, "account.deposited", 4, up) }, "lower than the current"},
		{"CurrentBelowUpcast", func(r *eventsource.Registry) error { return eventsource.Register[fresh](r, "money.added", 1) }, "already registered"},
		{"CurrentBelowUpcast2", func(r *eventsource.Registry) error {
			if err := eventsource.Upcast(r, "y", 3, up); err != nil {
				return err
			}
			return eventsource.Register[fresh](r, "y", 2)
		}, "lower than the current"},
		{"Interface", func(r *eventsource.Registry) error { return eventsource.Register[any](r, "z", 1) }, "concrete type"},
		{"NilUpcaster", func(r *eventsource.Registry) error { return eventsource.Upcast[fresh2](r, "z", 1, nil) }, "nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(accountRegistry(t))
			require.ErrorIs(t, err, eventsource.ErrInvalid)
			assert.Contains(t, err.Error(), tc.says)
		})
	}
}

// upperCodec is a pluggable codec: JSON behind a marker, to show that the
// registry uses whatever codec it is given.
type upperCodec struct{}

func (upperCodec) Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append([]byte("U:"), b...), err
}

func (upperCodec) Unmarshal(data []byte, v any) error {
	rest, ok := bytes.CutPrefix(data, []byte("U:"))
	if !ok {
		return errors.New("missing U: marker")
	}
	return json.Unmarshal(rest, v)
}

func TestRegistryPluggableCodec(t *testing.T) {
	r := eventsource.NewRegistry(upperCodec{})
	require.NoError(t, eventsource.Register[Opened](r, "opened", 1))
	d, err := r.Encode(Opened{Owner: "ada"}, eventsource.Metadata{})
	require.NoError(t, err)
	assert.Equal(t, `U:{"Owner":"ada"}`, string(d.Data))
	got, err := r.Decode(eventsource.Event{Type: "opened", SchemaVersion: 1, Data: d.Data})
	require.NoError(t, err)
	assert.Equal(t, []any{Opened{Owner: "ada"}}, got)
	_, err = r.Decode(eventsource.Event{Type: "opened", SchemaVersion: 1, Data: []byte(`{}`)})
	require.ErrorContains(t, err, "missing U: marker")
}

// TestRegistryConcurrentUse registers while other goroutines encode and
// decode (run with -race).
func TestRegistryConcurrentUse(t *testing.T) {
	r := accountRegistry(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		require.NoError(t, eventsource.Register[[]int](r, "late.ints", 1))
		require.NoError(t, eventsource.Register[[]string](r, "late.strings", 1))
		require.NoError(t, eventsource.Upcast(r, "late.bools", 1, func([]bool) ([]any, error) { return nil, nil }))
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				got, err := r.Decode(stored("account.deposited", 1, `{"amt":1}`))
				require.NoError(t, err)
				require.Len(t, got, 1)
				_, err = r.Encode(Withdrawn{Amount: 1}, eventsource.Metadata{})
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	_, err := r.Encode([]int{1}, eventsource.Metadata{})
	require.NoError(t, err)
}

// FuzzDecode feeds malformed stored events through the codec and the
// upcasters: Decode never panics, and every failure is a *DecodeError that
// names the stream, version and type.
func FuzzDecode(f *testing.F) {
	r := accountRegistry(f)
	for _, seed := range []struct {
		typ     string
		version int
		data    string
	}{
		{"account.deposited", 3, `{"amount":1,"currency":"EUR"}`},
		{"account.deposited", 1, `{"amt":1}`},
		{"account.deposited", 2, `{"amount":"x"}`},
		{"money.added", 1, `{"sum":1e400}`},
		{"account.opened-with-deposit", 1, `{"owner":"a","initial":-5}`},
		{"account.audited", 1, `null`},
		{"account.withdrawn", 1, "\xff\xfe"},
		{"account.opened", 9, `{}`},
		{"nope", 1, `[]`},
		{"", 0, ``},
	} {
		f.Add(seed.typ, seed.version, []byte(seed.data))
	}
	f.Fuzz(func(t *testing.T, typ string, version int, data []byte) {
		e := eventsource.Event{StreamID: "s-1", StreamVersion: 3, Type: typ, SchemaVersion: version, Data: data}
		got, err := r.Decode(e)
		if err != nil {
			var de *eventsource.DecodeError
			if !errors.As(err, &de) || de.StreamID != "s-1" || de.StreamVersion != 3 || de.Type != typ || de.SchemaVersion != version {
				t.Fatalf("error does not name the event: %#v", err)
			}
			if !strings.Contains(err.Error(), `stream "s-1"`) {
				t.Fatalf("message does not name the stream: %v", err)
			}
			return
		}
		for _, v := range got {
			switch v.(type) {
			case Opened, Deposited, Withdrawn:
			default:
				t.Fatalf("decoded to %T, which is not a current event type", v)
			}
		}
	})
}
