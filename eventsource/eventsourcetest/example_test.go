package eventsourcetest_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
)

// How a driver in any module runs the suites: Run in a test, RunCrash in
// another, and MainCrashWriter first thing in its TestMain (the crash test
// runs the test binary again as the writer it kills).
func Example() {
	conformance := func(t *testing.T) {
		eventsourcetest.Run(t, func(t *testing.T) eventsourcetest.Harness {
			return eventsourcetest.Harness{
				Store: eventsource.NewMemoryStore(), // the driver's store, empty
				HoldAppend: func(ctx context.Context, stream string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (func(bool) error, error) {
					// A SQL driver begins a transaction, appends in it and
					// returns a finish that commits (true) or rolls back.
					return nil, fmt.Errorf("append in a transaction left open")
				},
			}
		})
	}
	testMain := func(m *testing.M) {
		eventsourcetest.MainCrashWriter(func(context.Context) (eventsource.Store, error) {
			return nil, fmt.Errorf("open the driver's store on the database named in os.Getenv")
		})
		os.Exit(m.Run())
	}
	_, _ = conformance, testMain

	e := eventsourcetest.NewEvent("account.opened", `{"owner":"ada"}`)
	fmt.Println(e.Type, e.SchemaVersion, string(e.Data))
	// Output:
	// account.opened 1 {"owner":"ada"}
}
