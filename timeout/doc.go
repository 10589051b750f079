// Package timeout bounds how long one call may take.
//
// A Timeout gives each call a deadline through its context: op receives a
// context that is done Config.Timeout after Do started (or earlier, when the
// caller's own deadline comes first). When the deadline passes before op
// returns, Do returns an error that matches both ErrTimeout and
// context.DeadlineExceeded and wraps op's own error, if op returned one.
//
// # Operations that ignore their context
//
// Go cannot stop a goroutine from the outside: the deadline only reaches op
// through ctx, and an op that never looks at ctx runs to its end. What Do does
// then depends on Config.Detach:
//
//   - By default Do waits. It returns when op returns — late — with an
//     ErrTimeout error (op's result, even a success, is discarded because it
//     came after the deadline). No goroutine is started and nothing outlives
//     the call.
//   - With Detach, Do runs op in a goroutine of its own and returns at the
//     deadline. op keeps running in the background until it returns on its
//     own; its result is discarded, and a panic it raises after Do returned is
//     logged rather than crashing the program. Use it to put a bound on a
//     dependency whose client takes no context, and remember that the work
//     goes on: op must not touch state the caller reads after Do returns.
//     A panic op raises while Do still waits is raised again on the
//     caller's goroutine.
//
// In both modes an ErrTimeout does not mean the work did not happen: a
// request may have reached the server and succeeded after the caller stopped
// waiting.
//
// # Defaults
//
// The zero Config is the default configuration, which DefaultConfig spells
// out: a 10 second timeout (DefaultTimeout), waiting for an op that ignores
// its context, the real clock, and slog.Default for a detached op's late
// panic.
//
// # Run-time settings
//
// Reconfigure changes Timeout and Detach while calls run: each call reads the
// settings once, when it starts, and keeps them to its end, so a call never
// runs under half of one configuration and half of another. Settings returns
// what the Timeout runs with now.
//
// # Events
//
// With Config.Observer set, a Timeout reports TimedOut for every call that
// ran out of time, on the caller's goroutine, just before Do returns.
//
// # Example
//
//	t, err := timeout.New(timeout.Config{Timeout: 200 * time.Millisecond})
//	...
//	err = t.Do(ctx, func(ctx context.Context) error {
//		return inventory.Reserve(ctx, order) // sees a 200 ms deadline
//	})
//	if errors.Is(err, timeout.ErrTimeout) { ... }
package timeout
