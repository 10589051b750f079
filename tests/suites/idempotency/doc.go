// Package idempotency is the outside driver for idempotencytest: its tests
// hold an idempotency.Store (a thin store of its own over any other:
// idempotency.MemoryStore, or SQLite's for the killed-holder test) and a
// transactional inbox (a small one of its own on SQLite), written as a
// driver's author outside bulwark would write them with bulwark's exported
// packages only, to idempotencytest.Run, RunInbox, RunKilledHolder and
// RunKilledInboxConsumer, and show that the suites fail the same drivers
// with each of several deliberate flaws.
package idempotency
