// Package fallback replaces a failure with an alternative: a cached or
// default value, or another operation (a secondary service, a queue to retry
// from later).
//
// A Fallback[T] runs op; when op fails with an error its Config.Handle
// accepts, it returns what the alternative returns instead. Call carries a
// typed result:
//
//	fb, err := fallback.New(fallback.Value(Price{Amount: 999, Stale: true}),
//		fallback.Config{Handle: fallback.ErrorIs(circuitbreaker.ErrOpen)})
//	...
//	price, err := fb.Call(ctx, func(ctx context.Context) (Price, error) {
//		return bulwark.Call(ctx, breaker, pricing.Quote)
//	})
//
// Do makes a Fallback a bulwark.Policy. Through bulwark.Call the
// alternative's value reaches the caller as op's would:
//
//	price, err := bulwark.Call(ctx, bulwark.Chain(fb, breaker), pricing.Quote)
//
// For operations without a result, Op adapts an alternative operation:
//
//	fb, err := fallback.New(fallback.Op(func(ctx context.Context, err error) error {
//		return queue.Later(ctx, msg) // deliver it when the dependency is back
//	}), fallback.Config{})
//	...
//	err = bulwark.Chain(fb, breaker).Do(ctx, send)
//
// # Guarantees
//
// The alternative runs only after op failed with an error Handle accepts,
// at most once per call, on the caller's goroutine with the caller's
// context; op's success, or an error Handle rejects, comes back untouched.
// When the alternative fails too, the error wraps both. Panics are not
// errors and pass through untouched. A success allocates nothing. A
// fallback is usually the outermost policy: it sees the final outcome of
// the retries, breakers and timeouts inside it.
//
// # Defaults
//
// The zero Config is the default configuration: every error of op is
// replaced (Handle nil), and nothing is observed. The alternative is New's
// required first argument.
//
// A Fallback has no settings to change at run time (its one choice, Handle,
// is a function), so unlike the other policies it has no Reconfigure.
//
// # Events
//
// With Config.Observer set, a Fallback reports FellBack each time the
// alternative is about to run, on the caller's goroutine.
package fallback
