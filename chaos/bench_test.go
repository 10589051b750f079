package chaos_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/chaos"
)

// BenchmarkDo measures a call that gets no fault: with the injector switched
// off (one atomic load) and on (the dice are rolled).
func BenchmarkDo(b *testing.B) {
	ctx := context.Background()
	for _, disabled := range []bool{true, false} {
		name := "state=enabled"
		if disabled {
			name = "state=disabled"
		}
		b.Run(name, func(b *testing.B) {
			inj, err := chaos.New(chaos.Config{Faults: chaos.Faults{ErrorRate: 1e-9}, Disabled: disabled, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = inj.Do(ctx, succeed)
			}
		})
	}
}
