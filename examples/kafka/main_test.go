package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestEveryOrderIsHandledOnceOrDeadLettered(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out, Options{Orders: 12, Poison: 7}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"outbox: enqueued 12 orders for 3 customers",
		"consumer: order-012 for customer-1",
		"consumer: order-007 for customer-2: inventory does not know its SKU",
		"relay: published order-002 again (same ID), as after a crash",
		"consumer: order-002 again (ID ",
		"dead letter: order-007 from orders.created[",
		"after 3 attempts: retry: gave up after 3 attempts (max attempts reached): inventory: unknown SKU in order-007",
		"done: 12 orders, 14 records on orders.created, 11 handled once each, 1 dead-lettered, 2 duplicates dropped",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	// Each customer's orders are handled in the order they were enqueued.
	last := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		var order, customer string
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "consumer: %s for %s", &order, &customer); err != nil || strings.Contains(line, "again") {
			continue
		}
		customer = strings.TrimSuffix(customer, ":")
		if prev := last[customer]; prev != "" && order < prev {
			t.Errorf("%s handled after %s for %s", order, prev, customer)
		}
		last[customer] = order
	}
	t.Log("\n" + s)
}
