// Package retry runs an operation again when it fails, with backoff, limits
// and a budget that keeps retries from multiplying the load on a struggling
// dependency.
package retry
