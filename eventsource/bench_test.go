package eventsource_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
)

func BenchmarkRegistryDecode(b *testing.B) {
	r := accountRegistry(b)
	for _, tc := range []struct {
		name  string
		event eventsource.Event
	}{
		{"current", stored("account.deposited", 3, `{"amount":7,"currency":"CHF"}`)},
		{"upcast=2", stored("account.deposited", 1, `{"amt":7}`)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Decode(tc.event); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMemoryAppend(b *testing.B) {
	ctx := context.Background()
	s := eventsource.NewMemoryStore()
	e := eventsource.EventData{Type: "account.deposited", SchemaVersion: 3, Data: []byte(`{"amount":7,"currency":"CHF"}`)}
	b.ReportAllocs()
	v := eventsource.ExpectedVersion(0)
	for b.Loop() {
		e.ID = uuid.New()
		if _, err := s.Append(ctx, "s", v, e); err != nil {
			b.Fatal(err)
		}
		v++
	}
}

// BenchmarkLoad replays a 1,000-event account from the memory store.
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	store := eventsource.NewMemoryStore()
	accounts := newAccounts(b, store, nil)
	a, err := accounts.Load(ctx, "1")
	if err != nil {
		b.Fatal(err)
	}
	for range 1000 {
		if err := accounts.Save(ctx, &a, Deposited{Amount: 1, Currency: "EUR"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := accounts.Load(ctx, "1"); err != nil {
			b.Fatal(err)
		}
	}
}
