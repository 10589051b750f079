package timeout_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/timeout"
)

func success(context.Context) error { return nil }

// BenchmarkDo measures the success path: a deadline context made and
// released around an op that returns at once.
func BenchmarkDo(b *testing.B) {
	ctx := context.Background()
	for _, detach := range []bool{false, true} {
		name := "mode=wait"
		if detach {
			name = "mode=detach"
		}
		b.Run(name, func(b *testing.B) {
			tm, err := timeout.New(timeout.Config{Timeout: time.Minute, Detach: detach})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = tm.Do(ctx, success)
			}
		})
	}
	b.Run("mode=context.WithTimeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, cancel := context.WithTimeout(ctx, time.Minute)
			_ = success(c)
			cancel()
		}
	})
}
