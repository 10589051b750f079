// Package chaos injects faults into calls on purpose: errors, added latency
// and panics, each at a set rate. Put an Injector in front of a dependency to
// rehearse its outage — in a test, in a staging environment, or in production
// behind a switch — and watch the retries, breakers, timeouts and fallbacks
// around it do their work. (Polly's Simmy, in spirit.)
//
//	inj, err := chaos.New(chaos.Config{Faults: chaos.Faults{
//		ErrorRate:   0.2,                    // one call in five fails
//		LatencyRate: 0.1, Latency: time.Second, // one in ten is a second late
//	}})
//	...
//	err = bulwark.Chain(retrier, breaker, inj).Do(ctx, callInventory)
//
// The Injector can be switched off and on (Disable, Enable) and its rates
// changed (SetFaults) while calls are running. Decisions are reproducible:
// with the same Config.Seed, the n-th call to reach Do gets the same faults
// on every run, whatever the goroutines; Seed reports the seed in use so that
// a run with a random one can be repeated.
package chaos
