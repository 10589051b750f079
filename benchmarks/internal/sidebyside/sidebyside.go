// Package sidebyside runs one benchmark over several libraries, one
// sub-benchmark "impl=<name>" each, so that benchstat sets them side by side.
package sidebyside

import "testing"

// Impl is one library's way of doing what a benchmark measures.
type Impl struct {
	Name string
	// Make builds what the library needs once and returns the operation
	// to measure, which returns an error when the operation did not have
	// the outcome the benchmark expects (a permit refused, a call admitted
	// that should have been rejected).
	Make func(b *testing.B) func() error
}

// Serial measures each Impl's operation on one goroutine, reporting
// allocations and failing at the first unexpected outcome.
func Serial(b *testing.B, impls []Impl) {
	for _, im := range impls {
		b.Run("impl="+im.Name, func(b *testing.B) {
			op := im.Make(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := op(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Parallel measures each Impl's operation from GOMAXPROCS goroutines sharing
// what Make built (b.RunParallel), reporting allocations and failing at the
// first unexpected outcome.
func Parallel(b *testing.B, impls []Impl) {
	for _, im := range impls {
		b.Run("impl="+im.Name, func(b *testing.B) {
			op := im.Make(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := op(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
