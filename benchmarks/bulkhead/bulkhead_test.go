// Package bulkhead measures bulwark's bulkhead beside golang.org/x/sync's
// semaphore, failsafe-go's bulkhead and adaptive limiter, and
// eapache/go-resiliency's semaphore, and replays the failsafe-go 0.9.8 bug
// that loses a permit when the call panics.
package bulkhead

import (
	"context"
	"testing"
	"time"

	"github.com/eapache/go-resiliency/semaphore"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	xsemaphore "golang.org/x/sync/semaphore"

	"github.com/bulwark-go/bulwark/bulkhead"
)

// permits is the size of every bulkhead here: large enough that
// RunParallel's goroutines never find it full.
const permits = 1000

// impl is one library's permit, taken and returned once.
type impl struct {
	name    string
	acquire func(b *testing.B) func() bool // takes and returns a permit; false if none was free
}

var impls = []impl{
	{"bulwark", func(b *testing.B) func() bool {
		bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: permits})
		if err != nil {
			b.Fatal(err)
		}
		return func() bool {
			p, ok := bh.TryAcquire()
			if ok {
				p.Release(nil)
			}
			return ok
		}
	}},
	{"xsync", func(*testing.B) func() bool {
		s := xsemaphore.NewWeighted(permits)
		return func() bool {
			ok := s.TryAcquire(1)
			if ok {
				s.Release(1)
			}
			return ok
		}
	}},
	{"failsafe", func(*testing.B) func() bool {
		bh := fsbulkhead.New[any](permits)
		return func() bool {
			ok := bh.TryAcquirePermit()
			if ok {
				bh.ReleasePermit()
			}
			return ok
		}
	}},
	// go-resiliency's semaphore has no try-acquire: every Acquire starts a
	// timer for its timeout (a zero one races the free permit and may win).
	{"goresiliency", func(*testing.B) func() bool {
		s := semaphore.New(permits, time.Hour)
		return func() bool {
			ok := s.Acquire() == nil
			if ok {
				s.Release()
			}
			return ok
		}
	}},
}

// BenchmarkAcquireRelease takes a free permit and returns it, on one
// goroutine: the cost a bulkhead adds to every call it admits.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			acquire := im.acquire(b)
			b.ReportAllocs()
			for b.Loop() {
				if !acquire() {
					b.Fatal("no permit")
				}
			}
		})
	}
}

// BenchmarkAcquireReleaseParallel does the same from GOMAXPROCS goroutines
// sharing one bulkhead: the contended case of a busy service.
func BenchmarkAcquireReleaseParallel(b *testing.B) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			acquire := im.acquire(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !acquire() {
						b.Error("no permit")
						return
					}
				}
			})
		})
	}
}

// BenchmarkRejectFull asks a full bulkhead for a permit: the cost of
// shedding load, which must stay small when a service is drowning.
func BenchmarkRejectFull(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		reject func(b *testing.B) func() bool // reports whether the call was rejected
	}{
		{"bulwark", func(b *testing.B) func() bool {
			bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
			if err != nil {
				b.Fatal(err)
			}
			bh.TryAcquire()
			return func() bool { return bh.Do(ctx, nop) != nil }
		}},
		{"xsync", func(*testing.B) func() bool {
			s := xsemaphore.NewWeighted(1)
			s.TryAcquire(1)
			return func() bool { return !s.TryAcquire(1) }
		}},
		{"failsafe", func(*testing.B) func() bool {
			bh := fsbulkhead.New[any](1)
			bh.TryAcquirePermit()
			return func() bool { return !bh.TryAcquirePermit() }
		}},
	} {
		b.Run("impl="+tc.name, func(b *testing.B) {
			reject := tc.reject(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !reject() {
						b.Error("admitted")
						return
					}
				}
			})
		})
	}
}

func nop(context.Context) error { return nil }

// BenchmarkDo runs a no-op call through each library's whole policy, as
// users write it: bulwark's Do, failsafe-go's executor, and x/sync's
// semaphore wrapped by hand.
func BenchmarkDo(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func(b *testing.B) func() error
	}{
		{"bulwark", func(b *testing.B) func() error {
			bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: permits})
			if err != nil {
				b.Fatal(err)
			}
			return func() error { return bh.Do(ctx, nop) }
		}},
		{"xsync", func(*testing.B) func() error {
			s := xsemaphore.NewWeighted(permits)
			return func() error {
				if err := s.Acquire(ctx, 1); err != nil {
					return err
				}
				defer s.Release(1)
				return nop(ctx)
			}
		}},
		{"failsafe", func(*testing.B) func() error {
			ex := failsafe.With[any](fsbulkhead.New[any](permits))
			return func() error { return ex.Run(func() error { return nil }) }
		}},
	} {
		b.Run("impl="+tc.name, func(b *testing.B) {
			call := tc.call(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkAdaptiveDo runs a no-op call through an adaptive limiter: two
// clock reads and a sample per call on top of the permit.
func BenchmarkAdaptiveDo(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func(b *testing.B) func() error
	}{
		{"bulwark", func(b *testing.B) func() error {
			g := bulkhead.DefaultGradient()
			g.InitialLimit = permits
			bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: permits, Adaptive: g})
			if err != nil {
				b.Fatal(err)
			}
			return func() error { return bh.Do(ctx, nop) }
		}},
		{"failsafe", func(*testing.B) func() error {
			l := adaptivelimiter.NewBuilder[any]().WithLimits(permits, permits, permits).Build()
			return func() error {
				p, ok := l.TryAcquirePermit()
				if !ok {
					return bulkhead.ErrFull
				}
				p.Record()
				return nil
			}
		}},
	} {
		b.Run("impl="+tc.name, func(b *testing.B) {
			call := tc.call(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
