package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play the orchestrator child of -crash.
func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChild(path, os.Getenv(childOrderEnv), os.Stdout))
	}
	os.Exit(m.Run())
}

func TestOrdersCompleteOrAreCompensated(t *testing.T) {
	out := runExample(t, options{})
	for _, want := range []string{
		"charge-payment     charged 30.00 EUR",
		"=> order-", ": completed",
		"charge-payment     failed: card declined",
		"card declined: compensating the steps done so far, last first",
		"reserve-inventory  compensated: reservation released (true), 10 gadget in stock",
		": compensated",
		"charged 1 time(s), shipped 1 time(s)",
		"order cancelled, charged 0 time(s), shipped 0 time(s)",
		"stock of widget: 8",
		"Every order was either completed or fully compensated",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The declined order's compensations run last step first.
	if strings.Index(out, "reserve-inventory  compensated") > strings.Index(out, "create-order       compensated") {
		t.Error("create-order was compensated before reserve-inventory")
	}
}

func TestCrashedOrchestratorIsRecovered(t *testing.T) {
	out := runExample(t, options{crash: true})
	for _, want := range []string{
		"killed with SIGKILL before the payment step is logged",
		"the orchestrator process ended: signal: killed",
		"its log says: running, next step charge-payment",
		"the payment service already had key order-",
		"not charged again",
		"ship               shipped",
		"-3: order shipped, charged 1 time(s), shipped 1 time(s)",
		"stock of widget: 7",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func runExample(t *testing.T, opts options) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	err := run(ctx, &out, opts)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}
