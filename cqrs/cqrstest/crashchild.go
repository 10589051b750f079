package cqrstest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/retry"
)

// CrashChild is what a child process of the crash test projects with: the
// driver's stores, opened on the test's database, and how to write the
// read model.
type CrashChild[Tx any] struct {
	Events      eventsource.Store
	Checkpoints cqrs.Store[Tx]
	// Apply inserts the read model row (position, owner) through tx.
	Apply func(ctx context.Context, tx Tx, position int64, owner string) error
	// PollInterval is the projector's (cqrs.Config.PollInterval; 0 means
	// its default): short where the event store cannot announce another
	// process's appends.
	PollInterval time.Duration
	// HandleDelay is how long the handler works on each event before
	// Apply (not at all when 0): a read model with work to do, so that
	// kills land mid-batch.
	HandleDelay time.Duration
}

// MainCrashChild is the child entry point of RunCrash. A driver's TestMain
// calls it first:
//
//	func TestMain(m *testing.M) {
//		cqrstest.MainCrashChild(openCrashChild) // returns unless this process is a crash child
//		os.Exit(m.Run())
//	}
//
// In a process RunCrash started, it opens the driver's stores with open
// (which finds the database in the environment the driver put in
// CrashHarness.ChildEnv) and projects every event into the read model,
// logging each handler call, until it is killed; it exits with status 1
// when anything fails on the way. In any other process it returns at once.
func MainCrashChild[Tx any](open func(ctx context.Context) (CrashChild[Tx], error)) {
	if os.Getenv(crashIDVar) == "" {
		return
	}
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "projector child:", err)
		os.Exit(1)
	}
	c, err := open(ctx)
	if err != nil {
		fail(err)
	}
	calls, err := openCallLog(os.Getenv(crashCallsVar))
	if err != nil {
		fail(err)
	}
	id := os.Getenv(crashIDVar)
	cfg := cqrs.Config{
		InstanceID: id, BatchSize: 50, LeaseDuration: 2 * time.Second, PollInterval: c.PollInterval,
		Backoff: retry.Exponential{Initial: 10 * time.Millisecond, Jitter: retry.FullJitter}, MaxDelay: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
	projections := []cqrs.Projection[Tx]{{
		Name: crashProjection,
		Handle: func(ctx context.Context, tx Tx, e eventsource.Event) error {
			if err := calls.called(e.GlobalPosition); err != nil {
				return err
			}
			time.Sleep(c.HandleDelay)
			return c.Apply(ctx, tx, e.GlobalPosition, id)
		},
	}}
	p, err := cqrs.New(c.Events, c.Checkpoints, projections, cfg)
	if err != nil {
		fail(err)
	}
	fail(p.Run(ctx)) // runs until killed
}

// callLog records a projector process's handler calls in a file, one
// unbuffered write per call, so that what a killed process did is there.
type callLog struct{ f *os.File }

// openCallLog opens (creating) the file at path for appending.
func openCallLog(path string) (*callLog, error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &callLog{f: f}, nil
}

// called records a call of the handler for the event at position.
func (l *callLog) called(position int64) error {
	_, err := fmt.Fprintf(l.f, "%d %d\n", time.Now().UnixNano(), position)
	return err
}
