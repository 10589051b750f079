package saga_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/saga"
)

// FuzzRecoverFromAnyRecord feeds whatever a store might hold (any status
// text, step index and data bytes) to Recover: it must never panic, and an
// unfinished saga must end in a terminal status — completed or compensated
// when the record makes sense, needing attention when it does not.
func FuzzRecoverFromAnyRecord(f *testing.F) {
	f.Add("running", 0, []byte(`{"id":"x"}`))
	f.Add("running", 2, []byte(`{"trail":["a","b"]}`))
	f.Add("compensating", 1, []byte(`{}`))
	f.Add("compensating", 2, []byte(`{}`))
	f.Add("running", 9, []byte(`{}`))
	f.Add("running", -3, []byte(`{}`))
	f.Add("running", 0, []byte(`{"trail":`))
	f.Add("running", 0, []byte(nil))
	f.Add("needs_attention", 0, []byte(`{}`))
	f.Add("RUNNING", 0, []byte(`{}`))
	f.Fuzz(func(t *testing.T, statusText string, step int, data []byte) {
		status, err := saga.ParseStatus(statusText)
		if err != nil {
			return // a store rejects an unknown status before the orchestrator sees it
		}
		ctx := context.Background()
		store := saga.NewMemoryStore()
		fc := clocktest.New(epoch)
		rec := saga.Record{ID: "x", Name: "order", Status: status, Step: step, Data: data, Version: 1, CreatedAt: epoch, UpdatedAt: epoch}
		if err := store.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		mk := func(name string, kind saga.Kind) saga.Step[Order] {
			s := saga.Step[Order]{Name: name, Kind: kind, Action: func(_ context.Context, o *Order, _ saga.Invocation) error {
				o.Trail = append(o.Trail, name)
				return nil
			}}
			if kind == saga.Compensatable {
				s.Compensate = s.Action
			}
			return s
		}
		cfg := saga.DefaultConfig()
		cfg.Clock, cfg.Logger = fc, slog.New(slog.DiscardHandler)
		o, err := saga.New(def(mk("a", saga.Compensatable), mk("b", saga.Compensatable), mk("c", saga.Pivot), mk("d", saga.Retriable)), store, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close(ctx)
		if _, err := o.Recover(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := store.Get(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		if !got.Status.Terminal() {
			t.Fatalf("status %s after Recover", got.Status)
		}
		if status.Terminal() && got.Version != 1 {
			t.Fatalf("a terminal saga (%s) was written", status)
		}
	})
}
