// Package sqlmigratetest holds the check the SQL stores' FuzzNew tests
// share: New and Migrations agree on every configuration.
package sqlmigratetest

import (
	"reflect"
	"strings"
	"testing"
)

// CheckNew checks what a store's New and Migrations gave for one Config:
// either both refused it with the same error, which starts with "<pkg>: ",
// or New made a store (non-nil) and Migrations returned its steps.
func CheckNew[S any, M any](t *testing.T, pkg string, store *S, newErr error, steps []M, stepsErr error) {
	t.Helper()
	if newErr != nil {
		if !strings.HasPrefix(newErr.Error(), pkg+": ") {
			t.Errorf("New's error does not start with %q: %v", pkg+": ", newErr)
		}
		if !reflect.DeepEqual(stepsErr, newErr) {
			t.Errorf("Migrations refuses what New refuses: New said %v, Migrations %v", newErr, stepsErr)
		}
		return
	}
	if stepsErr != nil {
		t.Fatalf("New accepted the Config, Migrations refused it: %v", stepsErr)
	}
	if store == nil {
		t.Error("New returned neither a store nor an error")
	}
	if len(steps) == 0 {
		t.Error("Migrations returned no steps")
	}
}
