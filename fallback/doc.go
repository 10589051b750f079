// Package fallback replaces a failure with an alternative: a cached or
// default value, or another operation (a secondary service, a queue to retry
// from later).
//
// A Fallback[T] runs op; when op fails with an error its Config.Handle
// accepts, it returns what the alternative returns instead. Call carries a
// typed result:
//
//	fb, err := fallback.New(fallback.Config{Handle: fallback.ErrorIs(circuitbreaker.ErrOpen)},
//		fallback.Value(Price{Amount: 999, Stale: true}))
//	...
//	price, err := fb.Call(ctx, func(ctx context.Context) (Price, error) {
//		return bulwark.Call(ctx, breaker, pricing.Quote)
//	})
//
// Do makes a Fallback a bulwark.Policy for operations without a result; Op
// adapts an alternative operation to that use:
//
//	fb, err := fallback.New(fallback.DefaultConfig(), fallback.Op(func(ctx context.Context, err error) error {
//		return queue.Later(ctx, msg) // deliver it when the dependency is back
//	}))
//	...
//	err = bulwark.Chain(fb, breaker).Do(ctx, send)
//
// A fallback is usually the outermost policy: it sees the final outcome of
// the retries, breakers and timeouts inside it. Panics are not errors and
// pass through untouched.
package fallback
