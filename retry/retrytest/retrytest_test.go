package retrytest_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/retry/retrytest"
	"github.com/stretchr/testify/assert"
)

const brokenVar = "RETRYTEST_BROKEN_SINK"

// brokenSink stores letters like a correct sink, except for its one flaw.
type brokenSink struct {
	flaw    string
	mu      sync.Mutex
	calls   int
	letters []retrytest.Stored
}

func (s *brokenSink) DeadLetter(ctx context.Context, l retry.DeadLetter[retrytest.Item]) error {
	if err := ctx.Err(); err != nil {
		switch s.flaw {
		case "ignores-context":
		case "hides-context-error":
			return errors.New("sink: not stored")
		default:
			return err
		}
	}
	item, _ := json.Marshal(l.Item)
	st := retrytest.Stored{Item: item}
	if l.Err != nil {
		st.Err = l.Err.Error()
	}
	for _, a := range l.Attempts {
		sa := retrytest.StoredAttempt{Number: a.Number, Start: a.Start, Duration: a.Duration, Delay: a.Delay}
		if a.Err != nil {
			sa.Err = a.Err.Error()
		}
		st.Attempts = append(st.Attempts, sa)
	}
	switch s.flaw {
	case "drops-last-attempt":
		st.Attempts = st.Attempts[:len(st.Attempts)-1]
	case "keeps-first-line":
		st.Err, _, _ = strings.Cut(st.Err, "\n")
	case "loses-start":
		st.Attempts[0].Start = time.Time{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.flaw == "loses-some" && s.calls%37 == 0 {
		return nil
	}
	s.letters = append(s.letters, st)
	return nil
}

func (s *brokenSink) readBack(ctx context.Context, n int) ([]retrytest.Stored, error) {
	for {
		s.mu.Lock()
		if len(s.letters) >= n {
			defer s.mu.Unlock()
			return append([]retrytest.Stored(nil), s.letters[:n]...), nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// TestSuiteOnBrokenSink runs the suite on a sink with the flaw named by
// RETRYTEST_BROKEN_SINK; it runs only as TestSuiteCatchesBrokenSinks's child.
func TestSuiteOnBrokenSink(t *testing.T) {
	flaw := os.Getenv(brokenVar)
	if flaw == "" {
		t.Skip("run by TestSuiteCatchesBrokenSinks")
	}
	retrytest.Run(t, func(t *testing.T) retrytest.Harness {
		s := &brokenSink{flaw: flaw}
		return retrytest.Harness{Sink: s, ReadBack: func(ctx context.Context, n int) ([]retrytest.Stored, error) {
			ctx, cancel := context.WithTimeout(ctx, time.Second) // a lost letter fails fast
			defer cancel()
			return s.readBack(ctx, n)
		}}
	})
}

// TestSuiteCatchesBrokenSinks: each flaw makes the subtest that guards
// against it fail, and a correct sink passes.
func TestSuiteCatchesBrokenSinks(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		flaw  string
		fails []string
	}{
		{"none", nil},
		{"drops-last-attempt", []string{"RoundTrip", "ThroughHandler", "ManyAttemptsAndOddText"}},
		{"keeps-first-line", []string{"ManyAttemptsAndOddText"}},
		{"loses-start", []string{"RoundTrip", "ManyAttemptsAndOddText", "ZeroItemAndNoCause"}},
		{"loses-some", []string{"ConcurrentLetters"}},
		{"ignores-context", []string{"CancelledContext", "ExpiredContext"}},
		{"hides-context-error", []string{"CancelledContext", "ExpiredContext"}},
	} {
		t.Run(tt.flaw, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(exe, "-test.run=^TestSuiteOnBrokenSink$", "-test.v")
			cmd.Env = append(os.Environ(), brokenVar+"="+tt.flaw)
			out, err := cmd.CombinedOutput()
			if len(tt.fails) == 0 {
				assert.NoError(t, err, "a correct sink fails the suite:\n%s", out)
				assert.Contains(t, string(out), "--- PASS: TestSuiteOnBrokenSink/ConcurrentLetters")
				return
			}
			assert.Error(t, err, "the suite passed a sink that %s", tt.flaw)
			for _, name := range tt.fails {
				assert.Contains(t, string(out), "--- FAIL: TestSuiteOnBrokenSink/"+name+" ", "output:\n%s", out)
			}
		})
	}
}
