// Package cqrs builds read models (the query side of CQRS) from the global
// log of an event store (package eventsource), and keeps them up to date.
//
// A Projection is a named read-model builder: a handler applied to each
// event of the log, in global order. A Projector feeds projections from the
// log, each from its own checkpoint, with these promises:
//
//   - Exactly once for read models in the checkpoint store's database: a
//     batch of events and the projection's new checkpoint commit in one
//     transaction (the handler writes through the transaction it is
//     given), so a crash between them can neither skip nor repeat an event.
//     Read models elsewhere (in memory, in another system) are updated at
//     least once: the checkpoint is stored after the update, so an event
//     whose checkpoint was lost is applied again.
//   - One process at a time: several processes may run the same
//     projections; each projection runs in the one holding its lease, and
//     is taken over when that process dies. Every commit checks the lease,
//     so a process that lost it cannot apply anything.
//   - A failing event stops its projection only: the batch is rolled
//     back, the event retried alone with backoff, and after a limit the
//     projection is parked at the event, with its position and error, until
//     an operator resumes it or skips the event (or, if configured, the
//     event is skipped at once). Failures of the stores never park a
//     projection: the projector retries them.
//   - Rebuild: Rebuild empties a read model and replays the log into it
//     while the other projections go on; raising a projection's Version
//     builds a new version beside the live one and switches queries to it
//     once it has caught up.
//   - Read-your-writes: WaitFor waits until a projection has applied the
//     log up to a position (the one an append returned), bounded by ctx.
//
// A Projector is a bulwark.Service: New starts nothing, Run runs the
// projections until its ctx ends or Close, and Close lets each batch in
// flight commit — or, when Close's ctx ends first, rolls it back — so a
// batch is never half applied; either way the leases are given up.
//
// Construction: cqrs.New(events, checkpoints, projections, cfg). The zero
// Config is the default configuration (DefaultConfig spells it out); an
// invalid setting is an error naming it. Waits between tries of a failing
// event, and between restarts after a store failed, follow Config.Backoff
// (a retry.Backoff, jittered by default) capped by Config.MaxDelay, on
// Config.Clock.
//
// Events: with Config.Observer set, a Projector reports Applied after each
// committed batch, EventFailed after each failed try of an event (with
// what happens next), CaughtUp when a projection has applied everything
// readable, and Switched when a new version becomes live. Status reports
// each projection's checkpoint, lease, failure and lag behind the head of
// the log.
//
// Store is the driver interface of checkpoint stores (MemoryStore here;
// PostgreSQL and SQLite in adapters/postgres/pgcqrs and
// adapters/sqlite/sqlitecqrs), and cqrstest is the conformance suite every
// driver passes.
//
// A short example, with the read model in SQLite:
//
//	balances := cqrs.Projection[*sql.Tx]{
//		Name:  "balances",
//		Types: []string{"account.deposited"},
//		Handle: cqrs.Decoded(reg, func(ctx context.Context, tx *sql.Tx, e eventsource.Event, v any) error {
//			d := v.(Deposited)
//			_, err := tx.ExecContext(ctx, `UPDATE balances SET balance = balance + ? WHERE id = ?`, d.Amount, e.StreamID)
//			return err
//		}),
//	}
//	projector, _ := cqrs.New(events, checkpoints, []cqrs.Projection[*sql.Tx]{balances}, cqrs.Config{})
//	services := bulwark.Start(ctx, projector)
//	defer services.Stop(ctx)
//	…
//	acc, _ := accounts.Handle(ctx, "42", deposit(10))
//	_, err := projector.WaitFor(ctx, "balances", acc.Position) // the query now sees the deposit
package cqrs
