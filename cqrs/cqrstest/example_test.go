package cqrstest_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/cqrs/cqrstest"
)

// How a driver in any module runs the suites: Run in a test, RunCrash (SQL
// drivers) in another, and MainCrashChild first thing in its TestMain (the
// crash test runs the test binary again as the projectors it kills).
func Example() {
	conformance := func(t *testing.T) {
		cqrstest.Run(t, func(t *testing.T) cqrstest.Harness[cqrs.NoTx] {
			rows := map[string][]int64{} // the read model (a SQL driver uses a table)
			return cqrstest.Harness[cqrs.NoTx]{
				Store: cqrs.NewMemoryStore(),
				Record: func(_ context.Context, _ cqrs.NoTx, projection string, position int64) error {
					rows[projection] = append(rows[projection], position)
					return nil
				},
				Clear: func(_ context.Context, _ cqrs.NoTx, projection string) error {
					delete(rows, projection)
					return nil
				},
				Recorded: func(_ *testing.T, projection string) []int64 { return rows[projection] },
			}
		})
	}
	testMain := func(m *testing.M) {
		cqrstest.MainCrashChild(func(context.Context) (cqrstest.CrashChild[cqrs.NoTx], error) {
			return cqrstest.CrashChild[cqrs.NoTx]{}, fmt.Errorf("open the driver's stores on the database named in os.Getenv")
		})
		os.Exit(m.Run())
	}
	_, _ = conformance, testMain
	fmt.Println("suites:", "cqrstest.Run", "cqrstest.RunCrash")
	// Output:
	// suites: cqrstest.Run cqrstest.RunCrash
}
