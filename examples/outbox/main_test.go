package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv(relayChildVar) != "" {
		relayChild()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestEveryEventArrivesDespiteAKilledRelay(t *testing.T) {
	dbs := []string{"sqlite"}
	if os.Getenv("BULWARK_POSTGRES_DSN") != "" {
		dbs = append(dbs, "postgres")
	}
	for _, db := range dbs {
		t.Run(db, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var out strings.Builder
			err := run(ctx, &out, Options{DB: db, DSN: os.Getenv("BULWARK_POSTGRES_DSN"), Dir: t.TempDir(), Orders: 12, Kill: true})
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			s := out.String()
			for _, want := range []string{
				"relay: killed with SIGKILL",
				"relay: started again",
				"consumer: orders.created order-012",
				"done: 12 orders placed, 12 events received, 12 stored in the stream",
			} {
				if !strings.Contains(s, want) {
					t.Errorf("output lacks %q:\n%s", want, s)
				}
			}
		})
	}
}
