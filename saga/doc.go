// Package saga runs sagas: business transactions spread over several
// services, made of ordered steps that each commit on their own, where a
// failure is undone by running the compensations of the steps before it in
// reverse order.
//
// The promise: a saga started ends either completed or fully compensated,
// even when the orchestrator process dies at any moment, and a saga that
// cannot get there is left in a terminal NeedsAttention status, listed for
// an operator and logged, never retried forever in silence.
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
// as package retry's) and a per-invocation Timeout.
//
// Steps are re-run after a crash, so every invocation carries an
// Invocation whose Key is stable (saga ID and step name): pass it to the
// service the step calls, which does the work once per key.
//
// # Execution
//
// Orchestrator.Execute writes the saga, runs its steps and writes each
// transition before the next step runs. When a step fails for good (after
// its policy), the compensations of that step and of the steps before it
// run in reverse order, in a context the caller's cancellation cannot
// reach. Compensations are retried with backoff up to
// Config.CompensationAttempts; past that the saga needs attention, and an
// operator finds it with List, then Resumes or Abandons it. A saga with a
// deadline (Definition.Timeout) that has not reached its pivot when the
// deadline passes is compensated.
//
// Several orchestrator instances can share a store. Each saga is driven by
// the instance holding its lease; every write is conditional on the saga's
// version, so an instance that lost the lease stops. Run (or Recover, once,
// after a restart) takes over sagas whose lease has ended, and resumes them
// where their log says: forward, or compensating.
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
//	orch, err := saga.New(def, store, saga.DefaultConfig())
//	...
//	defer orch.Close()
//	go orch.Run(ctx) // take over the sagas of dead instances
//	err = orch.Execute(ctx, order.ID, order)
package saga
