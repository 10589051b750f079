package cqrs

import (
	"context"
	"time"
)

// Checkpoint is a projection's record in a Store: how far it has read the
// global log, who runs it, and whether it is parked at a failing event.
type Checkpoint struct {
	// Name and Version identify the projection (see Projection).
	Name    string
	Version int
	// Position is the global position of the last event whose effect the
	// read model holds (0 before the first).
	Position int64
	// Live reports that this version has caught up with the log once, so
	// queries read it: a name's live version is its greatest version with
	// Live set.
	Live bool
	// Owner is the projector instance that holds the lease (empty for
	// none); LeaseUntil is when the lease ends unless it is renewed.
	Owner      string
	LeaseUntil time.Time
	// Failed is the event the projection is parked at; zero while it runs.
	Failed Failure
	// UpdatedAt is when the record was last written.
	UpdatedAt time.Time
}

// Parked reports whether the projection is parked at a failing event.
func (c Checkpoint) Parked() bool { return c.Failed.Position != 0 }

// Failure is an event a projection could not apply: it stays parked there
// until an operator resumes it (Projector.Resume) or skips the event
// (Projector.Skip).
type Failure struct {
	// Position is the event's global position; 0 for no failure.
	Position int64
	// Error describes the event and the handler's last error.
	Error string
	// At is when the projection was parked.
	At time.Time
}

// Store is the driver interface of a checkpoint store: it keeps one
// Checkpoint per projection version and runs the transactions that change
// them. The memory store here and the PostgreSQL and SQLite stores in
// bulwark's adapters (pgcqrs, sqlitecqrs) implement it; every driver passes
// the conformance suite in cqrstest.
//
// Tx is the driver's transaction type (pgx.Tx, *sql.Tx, NoTx). The
// projector hands it to the projections' handlers, so that a read model in
// the same database commits its changes and the checkpoint together: a
// crash between the two can then neither skip nor repeat an event.
//
// Times are kept to the microsecond at least; a store returns them in any
// location, as long as they denote the same instant. The zero time is kept
// as the zero time.
type Store[Tx any] interface {
	// Update runs fn in a transaction with the checkpoint of projection
	// (name, version), read and locked so that Updates of the same
	// projection run one at a time. A projection without a checkpoint
	// gets one with Name and Version set and every other field zero. When
	// fn returns nil, the checkpoint as fn left it (keeping its Name and
	// Version) is stored and the transaction committed, with whatever fn
	// did through tx; otherwise nothing is stored (a missing checkpoint is
	// not created), tx is rolled back, and Update returns fn's error as
	// it is.
	Update(ctx context.Context, name string, version int, fn func(ctx context.Context, tx Tx, cp *Checkpoint) error) error
	// List returns every stored checkpoint, ordered by name (bytewise),
	// then version.
	// It does not wait for Updates in flight: it sees the committed ones.
	List(ctx context.Context) ([]Checkpoint, error)
}

// NoTx is the transaction type of stores without transactions
// (MemoryStore): handlers get the zero NoTx, and what they did is not
// undone when their update fails. Read models kept that way are updated at
// least once per event: an event whose effect was made but whose checkpoint
// was not stored is applied again.
type NoTx struct{}
