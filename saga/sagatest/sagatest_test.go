package sagatest_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/saga"
	"github.com/bulwark-go/bulwark/saga/sagatest"
	"github.com/stretchr/testify/assert"
)

const brokenVar = "SAGATEST_BROKEN_STORE"

// brokenStore is a MemoryStore with one flaw.
type brokenStore struct {
	*saga.MemoryStore
	flaw string
}

func (s *brokenStore) Create(ctx context.Context, rec saga.Record) error {
	if s.flaw == "loses-error" {
		rec.Error = ""
	}
	return s.MemoryStore.Create(ctx, rec)
}

func (s *brokenStore) Update(ctx context.Context, rec saga.Record) error {
	if s.flaw == "unfenced" {
		if cur, err := s.MemoryStore.Get(ctx, rec.ID); err == nil {
			rec.Version = cur.Version
		}
	}
	return s.MemoryStore.Update(ctx, rec)
}

func (s *brokenStore) Claim(ctx context.Context, name, owner string, now, until time.Time, limit int) ([]saga.Record, error) {
	if s.flaw == "claims-held" {
		now = now.Add(24 * time.Hour)
	}
	return s.MemoryStore.Claim(ctx, name, owner, now, until, limit)
}

func (s *brokenStore) Renew(ctx context.Context, owner string, ids []string, until time.Time) error {
	if s.flaw == "renews-any-owner" {
		for _, id := range ids {
			if cur, err := s.MemoryStore.Get(ctx, id); err == nil {
				if err := s.MemoryStore.Renew(ctx, cur.Owner, []string{id}, until); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return s.MemoryStore.Renew(ctx, owner, ids, until)
}

// TestSuiteOnBrokenStore runs the suite on a store with the flaw named by
// SAGATEST_BROKEN_STORE; it runs only as TestSuiteCatchesBrokenStores's
// child.
func TestSuiteOnBrokenStore(t *testing.T) {
	flaw := os.Getenv(brokenVar)
	if flaw == "" {
		t.Skip("run by TestSuiteCatchesBrokenStores")
	}
	sagatest.Run(t, func(t *testing.T) sagatest.Harness {
		return sagatest.Harness{Store: &brokenStore{MemoryStore: saga.NewMemoryStore(), flaw: flaw}}
	})
}

// TestSuiteCatchesBrokenStores: each flaw makes the subtests that guard
// against it fail, and a correct store passes.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		flaw  string
		fails []string
	}{
		{"none", nil},
		{"loses-error", []string{"Records/CreateThenGetReturnsTheRecord"}},
		{"unfenced", []string{"Records/UpdateIsConditionalOnTheVersion"}},
		{"claims-held", []string{"Leases/ClaimTakesUnfinishedSagasWithEndedLeases", "Instances/DeadInstancesSagasAreTakenOver"}},
		{"renews-any-owner", []string{"Leases/RenewExtendsOnlyTheOwnersUnfinishedLeases"}},
	} {
		t.Run(tt.flaw, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(exe, "-test.run=^TestSuiteOnBrokenStore$", "-test.v", "-test.timeout=2m")
			cmd.Env = append(os.Environ(), brokenVar+"="+tt.flaw)
			out, err := cmd.CombinedOutput()
			if len(tt.fails) == 0 {
				assert.NoError(t, err, "a correct store fails the suite:\n%s", out)
				assert.Contains(t, string(out), "--- PASS: TestSuiteOnBrokenStore/Instances/TwoInstancesShareTheTakeOver")
				return
			}
			assert.Error(t, err, "the suite passed a store that %s", tt.flaw)
			for _, name := range tt.fails {
				assert.Contains(t, string(out), "--- FAIL: TestSuiteOnBrokenStore/"+name+" ", "output:\n%s", out)
			}
		})
	}
}
