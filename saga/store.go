package saga

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Status is where a saga stands in its log.
type Status string

// The statuses of a saga. Running and Compensating are unfinished: an
// orchestrator drives them, and Run or Recover take them over when the
// instance driving them dies. The other four are terminal.
const (
	// Running: the saga is going forward; Record.Step is the next step to
	// run (it may already have been started by an instance that died).
	Running Status = "running"
	// Compensating: a step failed or the deadline passed; Record.Step is the
	// next step whose compensation runs, counting down to step 0.
	Compensating Status = "compensating"
	// Completed: every step succeeded.
	Completed Status = "completed"
	// Compensated: every step that may have taken effect has been undone.
	Compensated Status = "compensated"
	// NeedsAttention: a compensation (or a retriable step) failed more times
	// than the configured limit. The orchestrator stops and waits for an
	// operator to Resume or Abandon the saga; Record.Step is the stuck step.
	NeedsAttention Status = "needs_attention"
	// Abandoned: an operator gave up on a saga that needed attention and
	// took over responsibility for what it left behind.
	Abandoned Status = "abandoned"
)

// ParseStatus returns the Status spelled s, or an error for any other text.
// Stores use it to reject a corrupt status column instead of acting on it.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case Running, Compensating, Completed, Compensated, NeedsAttention, Abandoned:
		return st, nil
	}
	return "", fmt.Errorf("saga: unknown status %q", s)
}

// Terminal reports whether no orchestrator drives a saga in this status any
// more (Completed, Compensated, NeedsAttention, Abandoned). NeedsAttention is
// terminal for orchestrators; only an operator's Resume moves it on.
func (s Status) Terminal() bool {
	return s != Running && s != Compensating
}

// Record is one saga as a Store keeps it: the orchestrator's log of where
// the saga stands. Every transition of the saga replaces the record.
type Record struct {
	ID   string // chosen by the caller of Execute; unique in the store
	Name string // the Definition's name: which steps the saga runs
	// Status and Step say where the saga stands (see the Status constants).
	Status Status
	Step   int
	// Data is the saga data, encoded with the Definition's codec, as the
	// last completed step (or compensation) left it.
	Data []byte
	// Error describes the failure that made the saga compensate or need
	// attention; empty while nothing failed.
	Error string
	// Deadline is when a saga still going forward is compensated; zero for
	// none.
	Deadline time.Time
	// Owner is the instance that holds the lease, LeaseUntil when the lease
	// ends. Another instance may take over an unfinished saga once its lease
	// has ended.
	Owner      string
	LeaseUntil time.Time
	// Version counts the writes of the record, starting at 1. Every write is
	// conditional on it, so an instance whose saga was taken over cannot
	// write again.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ListQuery selects records for Store.List. Zero fields select everything.
type ListQuery struct {
	Name   string // only sagas of this definition
	Status Status // only sagas in this status
	After  string // only IDs greater than this, for paging
	Limit  int    // at most this many; 0 for no limit
}

// Store is the driver interface a back end implements to keep saga logs.
// Every store passes the conformance suite in package sagatest.
//
// Times are stored to the microsecond at least; a store returns them in UTC
// or any location, as long as they denote the same instant.
type Store interface {
	// Create inserts rec, whose Version is 1. It returns an error matching
	// ErrExists when a saga with rec.ID exists.
	Create(ctx context.Context, rec Record) error
	// Update replaces the saga rec.ID with rec if its stored Version equals
	// rec.Version, and stores Version rec.Version+1. Name, Deadline and
	// CreatedAt are never changed. It returns an error matching ErrConflict
	// when the version differs and ErrNotFound when the saga does not exist.
	Update(ctx context.Context, rec Record) error
	// Get returns the saga id, or an error matching ErrNotFound.
	Get(ctx context.Context, id string) (Record, error)
	// Claim atomically takes over at most limit unfinished (Running or
	// Compensating) sagas of definition name whose lease ended at or before
	// now, choosing those whose lease ended first: it sets their Owner to
	// owner, LeaseUntil to until, increments their Version, and returns
	// them as stored, in any order. Two concurrent claims never return the
	// same saga.
	Claim(ctx context.Context, name, owner string, now, until time.Time, limit int) ([]Record, error)
	// Renew sets LeaseUntil to until on those of the unfinished sagas ids
	// that owner still holds, leaving their Version as it is.
	Renew(ctx context.Context, owner string, ids []string, until time.Time) error
	// List returns the sagas q selects, ordered by ID.
	List(ctx context.Context, q ListQuery) ([]Record, error)
}

// Errors a Store reports, matched with errors.Is.
var (
	// ErrExists: Create found a saga with the same ID.
	ErrExists = errors.New("saga: a saga with this ID exists")
	// ErrNotFound: no saga has the ID.
	ErrNotFound = errors.New("saga: no saga with this ID")
	// ErrConflict: the saga was written by someone else (another instance
	// took it over, or an operator changed it) since it was read.
	ErrConflict = errors.New("saga: the saga changed since it was read")
)
