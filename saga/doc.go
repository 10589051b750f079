// Package saga runs sagas: business transactions spread over several
// services, made of ordered steps that each commit on their own, where a
// failure is undone by running the compensations of the steps before it in
// reverse order.
//
// # Guarantees
//
// A saga started ends either completed or fully compensated, even when the
// orchestrator process dies at any moment, and a saga that cannot get there
// is left in a terminal NeedsAttention status, listed for an operator and
// logged, never retried forever in silence. More precisely:
//
//   - Every transition (a step completed, compensation begun, a
//     compensation completed, a terminal status) is written to the Store
//     before the next action or compensation runs, as one replacement of
//     the saga's record conditional on its version. A crash loses at most
//     the outcome of the invocation in flight, which is run again, under
//     the same idempotency key (Invocation.Key), by whichever instance
//     resumes the saga.
//   - One instance drives a saga at a time: it holds a lease on it, renewed
//     while it drives the saga, and an instance whose lease was taken over
//     stops at its next write (ErrLeaseLost) without running anything more.
//   - A step that fails for good before the point of no return (the Pivot,
//     or the first Retriable step) is compensated together with every
//     step before it, in reverse order, in a context the caller's
//     cancellation cannot reach. After the point of no return the saga only
//     goes forward.
//   - A compensation, or a retriable step, that fails past its limit leaves
//     the saga in NeedsAttention: List finds it, Resume tries again, Abandon
//     gives up on it.
//
// # Definition
//
// A Definition is a named list of steps over typed saga data T, persisted
// with a Codec (JSON by default). Each step has an Action and, if it can be
// undone, a Compensate; both receive a pointer to the data and may change
// it for the steps after them. Step kinds follow Chris Richardson's model:
// Compensatable steps, then at most one Pivot (the go/no-go step, never
// compensated), then Retriable steps (retried until they succeed, never
// compensated). Each step may have a retry Policy (any bulwark.Policy, such
// as package retry's) and a per-invocation Timeout; the Definition may have
// a deadline.
//
// # Running
//
// New(def, store, cfg) starts nothing. Execute writes a saga, drives it to
// its end on a goroutine of its own and waits for the outcome; Resume does
// the same for a saga that needs attention. Neither needs Run. Run, the
// orchestrator's bulwark.Service method, keeps taking over sagas whose
// lease has ended (their instance died or was closed) and drives them on,
// forward or compensating; Recover does it once, for programs that do not
// call Run. While sagas are being driven, one goroutine renews the leases
// of those with long steps; it ends at its first renewal time (every
// LeaseDuration/3) when no saga is driven any more, or at Close.
//
// Close stops the orchestrator: Run returns nil, and every saga in flight
// finishes the invocation it is running, writes its outcome, releases its
// lease and stops, to be taken over by another instance at once (or by Run
// or Recover after a restart). Close waits for that within its ctx; once
// ctx ends, the invocations still running are cancelled with cause
// bulwark.ErrClosed and their sagas left where their log says. Nothing is
// ever half-written. After Close, Execute, Resume, Run and Recover return
// errors matching bulwark.ErrClosed.
//
// # Configuration
//
// The zero Config is the default configuration (DefaultConfig spells it
// out): leases of 30s, a look for sagas to take over every 5s, 16 of them
// driven at once, 10 tries of a compensation, retriable steps tried until
// they succeed, waits between those tries from retry.Exponential (100ms
// doubling, EqualJitter) capped at 30s, the system clock and
// slog.Default(). New rejects a setting out of range with an error naming
// the Config field.
//
// # Events
//
// With Config.Observer set, an orchestrator reports StepStarted,
// StepCompleted, StepFailed, Retrying, CompensationStarted, Finished,
// TakenOver and Stopped (see events.go), each with Config.Name (the
// definition's name by default) as its Component. Each is reported on the
// goroutine driving the saga, never under a lock, with the context of the
// work: a step's event with the context the step runs with, so a tracing
// observer adds its span events to the trace of the request that started
// the saga.
//
// # Stores
//
// Store is the small driver interface; MemoryStore keeps sagas in memory,
// and the adapters/postgres/pgsaga and adapters/sqlite/sqlitesaga modules
// keep them in PostgreSQL and SQLite. Package sagatest is the conformance
// suite every store passes. On the happy path a saga of n steps costs n+1
// writes and no reads.
//
//	def := saga.Definition[Order]{
//		Name: "order",
//		Steps: []saga.Step[Order]{
//			{Name: "reserve", Action: reserve, Compensate: release},
//			{Name: "charge", Kind: saga.Pivot, Action: charge, Policy: retrier},
//			{Name: "ship", Kind: saga.Retriable, Action: ship},
//		},
//	}
//	orch, err := saga.New(def, store, saga.Config{})
//	...
//	g := bulwark.Start(ctx, orch) // Run: take over the sagas of dead instances
//	defer g.Stop(shutdownCtx)     // Close: let the sagas in flight stop cleanly
//	err = orch.Execute(ctx, order.ID, order)
package saga
