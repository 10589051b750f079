// Package idempotency makes retried operations take effect once: a request
// carries an idempotency key, the first request with a key runs, and every
// retry with the same key gets the first one's outcome back. It covers HTTP
// requests (Middleware, for the Idempotency-Key header) and consumed
// messages (Inbox, the idempotent consumer).
//
// # Records
//
// A Keeper keeps one record per (scope, key) in a Store. The scope is the
// caller's identity or tenant, so one client never receives another's
// outcome by guessing its key. A record is
//
//   - in progress while an attempt holds it, under a lease (Config.Lease);
//   - completed once the attempt stored its outcome, which is replayed to
//     every retry until the record expires (Config.TTL; Cleanup deletes
//     expired records);
//   - released (deleted) when the attempt failed in a way that is safe to
//     retry, so the next retry runs again.
//
// Each record keeps the request's fingerprint (a hash of its content): the
// same key sent with a different request gets ErrMismatch (HTTP 422), never
// the other request's outcome. Duplicates that arrive while the first
// attempt runs get ErrInProgress (HTTP 409) at once, or wait up to
// Config.Wait for its outcome: a duplicate waiting on an attempt of the same
// Keeper gets it the moment that attempt completes, one waiting on another
// process's attempt at its next look (Config.PollInterval).
//
// # Crashes, side effects and recovery points
//
// If the holder dies mid-operation, its record stays in progress until the
// lease runs out; then a retry takes the key over and runs the operation
// again (Attempt.Number counts the attempts). Whatever side effects the dead
// attempt finished (a charge created, a message sent) may therefore happen
// twice, unless the operation guards them. Two guards work together:
//
//   - Recovery points: after each side effect that must not repeat, the
//     operation calls Attempt.Checkpoint with what a successor needs to
//     go on (the charge's ID); a takeover reads Attempt.RecoveryPoint and
//     resumes after it instead of starting over. Checkpoint also renews the
//     lease, so a long operation that checkpoints is not taken over.
//   - Idempotent downstream calls: pass a key derived from the request's
//     key to the payment provider or the next service, so a repeated call
//     is deduplicated there too.
//
// A holder that lost its lease is fenced off: its Complete returns
// ErrLeaseLost and the successor's outcome stands.
//
// Stores decide nothing about time: the Keeper passes its clock's time to
// every call, so processes sharing a store should have synchronised clocks
// (skew shortens or lengthens leases by as much).
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
