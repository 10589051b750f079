// Package bulkhead measures bulwark's bulkhead beside golang.org/x/sync's
// semaphore, failsafe-go's bulkhead and adaptive limiter, and
// eapache/go-resiliency's semaphore, and replays the failsafe-go 0.9.8 bug
// that loses a permit when the call panics.
package bulkhead

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eapache/go-resiliency/semaphore"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	xsemaphore "golang.org/x/sync/semaphore"

	"github.com/bulwark-go/bulwark/benchmarks/internal/sidebyside"
	"github.com/bulwark-go/bulwark/bulkhead"
)

// permits is the size of every bulkhead here: large enough that
// RunParallel's goroutines never find it full.
const permits = 1000

var (
	errNoPermit = errors.New("no permit")
	errAdmitted = errors.New("admitted")
)

// permit returns an operation that takes and returns a permit with try,
// failing when none was free.
func permit(try func() bool) func() error {
	return func() error {
		if !try() {
			return errNoPermit
		}
		return nil
	}
}

// impls are each library's permit, taken and returned once.
var impls = []sidebyside.Impl{
	{Name: "bulwark", Make: func(b *testing.B) func() error {
		bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: permits})
		if err != nil {
			b.Fatal(err)
		}
		return permit(func() bool {
			p, ok := bh.TryAcquire()
			if ok {
				p.Release(nil)
			}
			return ok
		})
	}},
	{Name: "xsync", Make: func(*testing.B) func() error {
		s := xsemaphore.NewWeighted(permits)
		return permit(func() bool {
			ok := s.TryAcquire(1)
			if ok {
				s.Release(1)
			}
			return ok
		})
	}},
	{Name: "failsafe", Make: func(*testing.B) func() error {
		bh := fsbulkhead.New[any](permits)
		return permit(func() bool {
			ok := bh.TryAcquirePermit()
			if ok {
				bh.ReleasePermit()
			}
			return ok
		})
	}},
	// go-resiliency's semaphore has no try-acquire: every Acquire starts a
	// timer for its timeout (a zero one races the free permit and may win).
	{Name: "goresiliency", Make: func(*testing.B) func() error {
		s := semaphore.New(permits, time.Hour)
		return func() error {
			if err := s.Acquire(); err != nil {
				return err
			}
			s.Release()
			return nil
		}
	}},
}

// BenchmarkAcquireRelease takes a free permit and returns it, on one
// goroutine: the cost a bulkhead adds to every call it admits.
func BenchmarkAcquireRelease(b *testing.B) { sidebyside.Serial(b, impls) }

// BenchmarkAcquireReleaseParallel does the same from GOMAXPROCS goroutines
// sharing one bulkhead: the contended case of a busy service.
func BenchmarkAcquireReleaseParallel(b *testing.B) { sidebyside.Parallel(b, impls) }

// BenchmarkRejectFull asks a full bulkhead for a permit: the cost of
// shedding load, which must stay small when a service is drowning.
func BenchmarkRejectFull(b *testing.B) {
	ctx := context.Background()
	rejected := func(admitted func() bool) func() error {
		return func() error {
			if admitted() {
				return errAdmitted
			}
			return nil
		}
	}
	sidebyside.Parallel(b, []sidebyside.Impl{
		{Name: "bulwark", Make: func(b *testing.B) func() error {
			bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
			if err != nil {
				b.Fatal(err)
			}
			bh.TryAcquire()
			return rejected(func() bool { return bh.Do(ctx, nop) == nil })
		}},
		{Name: "xsync", Make: func(*testing.B) func() error {
			s := xsemaphore.NewWeighted(1)
			s.TryAcquire(1)
			return rejected(func() bool { return s.TryAcquire(1) })
		}},
		{Name: "failsafe", Make: func(*testing.B) func() error {
			bh := fsbulkhead.New[any](1)
			bh.TryAcquirePermit()
			return rejected(bh.TryAcquirePermit)
		}},
	})
}

func nop(context.Context) error { return nil }

// BenchmarkDo runs a no-op call through each library's whole policy, as
// users write it: bulwark's Do, failsafe-go's executor, and x/sync's
// semaphore wrapped by hand.
func BenchmarkDo(b *testing.B) {
	ctx := context.Background()
	sidebyside.Parallel(b, []sidebyside.Impl{
		{Name: "bulwark", Make: func(b *testing.B) func() error {
			bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: permits})
			if err != nil {
				b.Fatal(err)
			}
			return func() error { return bh.Do(ctx, nop) }
		}},
		{Name: "xsync", Make: func(*testing.B) func() error {
			s := xsemaphore.NewWeighted(permits)
			return func() error {
				if err := s.Acquire(ctx, 1); err != nil {
					return err
				}
				defer s.Release(1)
				return nop(ctx)
			}
		}},
		{Name: "failsafe", Make: func(*testing.B) func() error {
			ex := failsafe.With[any](fsbulkhead.New[any](permits))
			return func() error { return ex.Run(func() error { return nil }) }
		}},
	})
}

// BenchmarkAdaptiveDo runs a no-op call through an adaptive limiter: two
// clock reads and a sample per call on top of the permit.
func BenchmarkAdaptiveDo(b *testing.B) {
	ctx := context.Background()
	sidebyside.Parallel(b, []sidebyside.Impl{
		{Name: "bulwark", Make: func(b *testing.B) func() error {
			g := bulkhead.DefaultGradient()
			g.InitialLimit = permits
			bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: permits, Adaptive: g})
			if err != nil {
				b.Fatal(err)
			}
			return func() error { return bh.Do(ctx, nop) }
		}},
		{Name: "failsafe", Make: func(*testing.B) func() error {
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
	})
}
