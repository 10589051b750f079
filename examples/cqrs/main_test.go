package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExample runs the example to the end and checks that each step did
// what it says.
func TestExample(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out, filepath.Join(t.TempDir(), "bank.db")); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"ada   deposit 2500           event at position 2; read model: Ada Lovelace has 2500",
		"ada   withdraw 1200          event at position 5; read model: Ada Lovelace has 1300",
		"grace withdraw 500           refused: insufficient funds: balance 300, asked for 500",
		"grace deposit 1800           event at position 6; read model: Grace Hopper has 2100",
		"large transactions (1000 or more):\n  ada deposit of 2500\n  ada withdrawal of 1200\n  grace deposit of 1800\n",
		"balances went on: ada has 5001300",
		"large_transactions is parked at position 7 after 3 tries:",
		"CHECK constraint failed",
		"  balances           position  7  lag 0  running\n  large_transactions position  6  lag 1  parked at 7\n",
		"grace withdraws 1100\nlarge transactions (1000 or more):\n  ada deposit of 2500\n  ada withdrawal of 1200\n  grace deposit of 1800\n  grace withdrawal of 1100\n",
		"rebuilt balances from position 0 up to 8:\n  Ada Lovelace has 5001300\n  Grace Hopper has 1000\n",
		"  balances           position  8  lag 0  running\n  large_transactions position  8  lag 0  running\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}
