// Package consumefault proves the consumer runtime's promises under real
// faults, on every broker: consuming processes are killed with SIGKILL again
// and again while they handle messages into PostgreSQL through the SQL inbox,
// and at the end every message's effect is there exactly once, each key's
// effects in order, dead letters are exactly the messages made to fail, and
// the broker holds nothing unacknowledged.
package consumefault
