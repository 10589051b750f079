package fallback_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/fallback"
)

// FuzzNew feeds New an arbitrary alternative (none, a value, a failure)
// and Handle, and runs the Fallback on arbitrary outcomes of op, directly
// and through bulwark.Call: New fails only for a missing alternative, and
// the Fallback returns op's result, or the alternative's, exactly as
// documented; it never panics.
func FuzzNew(f *testing.F) {
	f.Add(uint8(0), false, false, 0, 0)
	f.Add(uint8(1), false, false, 7, 42)
	f.Add(uint8(1), true, true, -1, 42)
	f.Add(uint8(2), true, false, 3, 5)
	f.Add(uint8(2), false, true, 0, 0)
	f.Fuzz(func(t *testing.T, alt uint8, opFails, handled bool, opValue, altValue int) {
		errOp, errAlt := errors.New("op failed"), errors.New("alternative failed")
		var alternative func(context.Context, error) (int, error)
		switch alt % 3 {
		case 1:
			alternative = fallback.Value(altValue)
		case 2:
			alternative = func(context.Context, error) (int, error) { return altValue, errAlt }
		}
		var events int
		fb, err := fallback.New(alternative, fallback.Config{
			Handle:   func(error) bool { return handled },
			Observer: bulwark.ObserverFunc(func(context.Context, bulwark.Event) { events++ }),
		})
		if alternative == nil {
			if err == nil || !strings.HasPrefix(err.Error(), "fallback: alternative") {
				t.Fatalf("a nil alternative: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		op := func(context.Context) (int, error) {
			if opFails {
				return opValue, errOp
			}
			return opValue, nil
		}
		wantV, wantErr, wantEvents := opValue, error(nil), 0
		switch {
		case opFails && !handled:
			wantErr = errOp
		case opFails && alt%3 == 1:
			wantV, wantEvents = altValue, 1
		case opFails:
			wantV, wantErr, wantEvents = 0, errAlt, 1
		}
		for _, run := range []func() (int, error){
			func() (int, error) { return fb.Call(context.Background(), op) },
			func() (int, error) { return bulwark.Call(context.Background(), fb, op) },
		} {
			events = 0
			v, err := run()
			if !errors.Is(err, wantErr) || (wantErr == nil && err != nil) || events != wantEvents {
				t.Fatalf("error %v, want %v; %d events, want %d", err, wantErr, events, wantEvents)
			}
			if err == nil && v != wantV {
				t.Fatalf("value %d, want %d", v, wantV)
			}
		}
	})
}
