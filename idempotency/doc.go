// Package idempotency makes retried operations take effect once: a request
// carries an idempotency key, the first request with a key runs, and every
// retry with the same key gets the first one's outcome back. It covers
// function calls (Do), consumed messages (Inbox, the idempotent consumer)
// and, through bulwarkhttp's Idempotency middleware, HTTP requests with an
// Idempotency-Key header; this package itself does not speak HTTP.
//
// # Guarantees
//
// A Keeper keeps one record per (scope, key) in a Store. The scope is the
// caller's identity or tenant, so one client never receives another's
// outcome by guessing its key. For each record:
//
//   - At most one attempt holds the key at a time. Concurrent requests with
//     one key, in any number of processes sharing the store, have exactly
//     one winner; the others see the winner's record.
//   - A completed record's outcome is returned to every retry with the same
//     fingerprint (a hash of the request's content) until the record
//     expires (Config.TTL), byte for byte. The same key sent with a
//     different request gets ErrMismatch, never the other request's
//     outcome.
//   - A record released by its attempt (the operation failed in a way that
//     is safe to retry), or expired, is gone: the next request runs again,
//     whatever its fingerprint.
//   - Duplicates that arrive while the first attempt runs get an
//     *InProgressError (ErrInProgress) at once, or wait up to Config.Wait
//     for its outcome: a duplicate waiting on an attempt of the same Keeper
//     gets it the moment that attempt completes, one waiting on another
//     process's attempt at its next look (Config.PollInterval).
//
// # Crashes, side effects and recovery points
//
// If the holder dies mid-operation, its record stays in progress until the
// lease runs out (Config.Lease); then a retry takes the key over and runs
// the operation again (Attempt.Number counts the attempts). Whatever side
// effects the dead attempt finished (a charge created, a message sent) may
// therefore happen twice, unless the operation guards them. Two guards
// work together:
//
//   - Recovery points: after each side effect that must not repeat, the
//     operation calls Attempt.Checkpoint with what a successor needs to
//     go on (the charge's ID); a takeover reads Attempt.RecoveryPoint and
//     resumes after it instead of starting over. Checkpoint also renews the
//     lease, so a long operation that checkpoints is not taken over.
//   - Idempotent downstream calls: pass the next service a key derived
//     from the request's (Attempt.DownstreamKey, DeriveKey), so a repeated
//     call is deduplicated there too.
//
// A holder that lost its lease is fenced off: its Complete returns
// ErrLeaseLost and the successor's outcome stands.
//
// Stores decide nothing about time: the Keeper passes its clock's time to
// every call, so processes sharing a store should have synchronised clocks
// (skew shortens or lengthens leases by as much).
//
// # Configuration
//
// New(store, Config{}) is a Keeper with the defaults DefaultConfig spells
// out: a 1-minute lease, a 24-hour TTL, duplicates answered at once (no
// waiting), a 50ms poll interval, JSON outcomes, the system clock. Invalid
// settings (negative durations, a TTL shorter than the lease) are errors
// naming the field. NewInbox(keeper, InboxConfig{}) and
// NewCleaner(keeper, CleanerConfig{}) work likewise.
//
// # Events
//
// With a Config.Observer, a Keeper reports Replayed (a request got a stored
// outcome) and TakenOver (a retry took over a dead holder's key); an inbox
// reports Duplicate (a message skipped as processed); a Cleaner reports
// Cleaned and CleanupFailed. Each is reported on the goroutine of the work
// that caused it, with that work's context.
//
// # Cleanup
//
// Expired records stay in a SQL store until deleted: run a Cleaner (a
// bulwark.Service) over the Keeper, or over a SQL adapter's transactional
// inbox. Redis expires records by itself.
//
// # Stores
//
// MemoryStore serves one process. The adapters hold the others:
// adapters/postgres/pgidempotency, adapters/sqlite/sqliteidempotency and
// adapters/redis/redisidempotency. Every store passes the conformance suite
// in idempotencytest. The SQL adapters also offer a transactional inbox
// that records a message as processed in the same transaction as the
// handler's writes.
package idempotency
