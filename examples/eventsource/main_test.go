package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestExample runs the example to the end on SQLite (and PostgreSQL when
// BULWARK_POSTGRES_DSN is set) and checks that each step did what it says.
func TestExample(t *testing.T) {
	dbs := []string{"sqlite"}
	if os.Getenv("BULWARK_POSTGRES_DSN") != "" {
		dbs = append(dbs, "postgres")
	}
	for _, db := range dbs {
		t.Run(db, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var out strings.Builder
			if err := run(ctx, &out, Options{DB: db, DSN: os.Getenv("BULWARK_POSTGRES_DSN"), Dir: t.TempDir()}); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			s := out.String()
			for _, want := range []string{
				"opened the account and enqueued accounts.opened in one transaction",
				"the transaction rolled back: 1 outbox message pending, not 2",
				"loaded: owner Ada Lovelace, balance 50 EUR at version 2 (the upcaster",
				"withdraw 500: refused: insufficient funds",
				`attempt 1: eventsource: version conflict on stream "account-ada": expected version 4, stream is at 5`,
				"loading the new state and deciding again",
				"both writers saved: balance 100 at version 6",
				"snapshot at version 5; loading version 9 read 5 events",
				"balance 130 EUR",
				"  account-ada v9  account.deposited",
			} {
				if !strings.Contains(s, want) {
					t.Errorf("output lacks %q:\n%s", want, s)
				}
			}
			// The reader catches up at the last event's position. Positions
			// may skip a number (PostgreSQL's sequence gives one to an
			// append that then loses a race for its version; only stream
			// versions are without gaps), so the test reads it off the log.
			last := regexp.MustCompile(`(?m)^\s+(\d+)  account-ada v9 `).FindStringSubmatch(s)
			if last == nil || !strings.Contains(s, "caught up at position "+last[1]) {
				t.Errorf("the reader did not catch up at the last event's position:\n%s", s)
			}
			if n := strings.Count(s, "deciding again"); n != 1 {
				t.Errorf("%d retries, want exactly 1 (one of the two writers):\n%s", n, s)
			}
		})
	}
}
