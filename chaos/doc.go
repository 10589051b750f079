// Package chaos injects faults into calls on purpose: errors, added latency
// and panics, each at a set rate. Put an Injector in front of a dependency to
// rehearse its outage — in a test, in a staging environment, or in production
// behind a switch — and watch the retries, breakers, timeouts and fallbacks
// around it do their work. (Polly's Simmy, in spirit.)
//
//	inj, err := chaos.New(chaos.Config{Name: "inventory", Faults: chaos.Faults{
//		ErrorRate:   0.2,                    // one call in five fails
//		LatencyRate: 0.1, Latency: time.Second, // one in ten is a second late
//	}})
//	...
//	err = bulwark.Chain(retrier, breaker, inj).Do(ctx, callInventory)
//
// # Defaults
//
// The zero Config is the default configuration: an enabled Injector whose
// zero Faults inject nothing until rates are set (in the Config or with
// SetFaults), with a random seed, on the real clock.
//
// # Guarantees
//
// Each call gets each fault with its configured probability: an injected
// latency waits exactly Faults.Latency on Config.Clock (or until the
// caller's context ends), an injected error is returned without running op,
// an injected panic panics with ErrPanic without running op. The Injector
// can be switched off and on (Disable, Enable) and its rates changed
// (SetFaults), or both at once (Reconfigure, which Settings reports), while
// calls are running: each call reads the switch and the faults together, in
// one atomic load, so it never sees the faults of one configuration with the
// switch of another; switched off, Do is op(ctx) behind that load. Decisions are reproducible: with the same Config.Seed,
// the n-th call to reach Do gets the same faults on every run, whatever the
// goroutines; Seed reports the seed in use so that a run with a random one
// can be repeated.
//
// # Events
//
// With Config.Observer set, an Injector reports Injected just before each
// fault it injects, on the caller's goroutine, with the call's number.
package chaos
