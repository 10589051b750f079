// Package eventsource stores the state of aggregates as the sequence of
// events that changed it, and rebuilds that state by replaying them.
//
// An event store keeps one stream of events per aggregate ("account-42") and
// a global log of every event of every stream. Its promises:
//
//   - a stream's history is never lost or reordered: versions count 1, 2, 3…
//     without gaps, and an event once appended never changes;
//   - concurrent writers cannot both win: Append takes the version the writer
//     last saw, and every writer but one gets ErrVersionConflict;
//   - readers of the global log see every committed event once, in order:
//     ReadAll never returns an event while one with a smaller position may
//     still commit, so a reader that remembers the last position it handled
//     can never pass an event that commits late;
//   - appending the same event IDs again, after a timeout or a lost
//     connection left the outcome unknown, stores them once.
//
// Store is the driver interface (memory here; PostgreSQL and SQLite in
// adapters/postgres/pgeventsource and adapters/sqlite/sqliteeventsource),
// and eventsourcetest is the conformance suite every driver passes.
//
// On top of a Store:
//
//   - Registry maps Go event types to stored type names and schema
//     versions, encodes them with a Codec (JSON by default), and turns stored
//     events of older schema versions into current ones with upcasters.
//   - Repository loads an aggregate (from its latest snapshot plus later
//     events), saves its new events with the version it was loaded at, and
//     runs load-decide-save with retries on conflicts (Handle). A decision
//     is stored at most once: an append whose outcome is unknown is
//     re-sent with the same event IDs.
//   - Subscription delivers the global log to a handler, catching up from a
//     checkpoint the subscriber keeps and then following new events live.
//     It is a bulwark.Service (Run, Close): Close lets the handler call in
//     flight finish.
//
// Construction: the required collaborators are parameters and a Config
// comes last — NewRepository(store, registry, evolve, cfg),
// NewSubscription(store, handle, cfg). The zero Config is the default
// configuration (DefaultRepositoryConfig and DefaultSubscriptionConfig
// spell it out); an invalid setting is an error naming it.
//
// Events: with Config.Observer set, a Subscription reports CaughtUp, and a
// Repository reports Retried before each retry of Handle and
// SnapshotFailed when a snapshot cannot be used or saved. Waits between
// Handle's tries, and before a Subscription listens again after its
// store's notifications failed, follow Config.Backoff (a retry.Backoff)
// capped by Config.MaxDelay, on Config.Clock.
//
// A short example:
//
//	reg := eventsource.NewRegistry(nil)
//	eventsource.Register[Deposited](reg, "account.deposited", 1)
//	evolve := func(a Account, e any) Account { … }
//	accounts, _ := eventsource.NewRepository(store, reg, evolve, eventsource.RepositoryConfig[Account]{StreamPrefix: "account-"})
//	_, err := accounts.Handle(ctx, "42", func(a Account) ([]any, error) {
//		return []any{Deposited{Amount: 10}}, nil
//	})
package eventsource
