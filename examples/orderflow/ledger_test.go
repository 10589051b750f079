package main

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/saga"
)

// goodFacts is a run that kept every promise: order-0001 completed,
// order-0002 compensated (its key sent twice), order-0003 compensated
// before its reservation was made.
func goodFacts() facts {
	return facts{
		keys:            []string{"web-0001", "web-0002", "web-0003"},
		answers:         map[string][]string{"web-0001": {"order-0001"}, "web-0002": {"order-0002", "order-0002"}, "web-0003": {"order-0003"}},
		ordersPerKey:    map[string]int{"web-0001": 1, "web-0002": 1, "web-0003": 1},
		orderKey:        map[string]string{"order-0001": "web-0001", "order-0002": "web-0002", "order-0003": "web-0003"},
		streamMessages:  3,
		sagas:           map[string]saga.Status{"order-0001": saga.Completed, "order-0002": saga.Compensated, "order-0003": saga.Compensated},
		chargesPerKey:   map[string]int{"order-0001/charge-payment": 1},
		chargesPerOrder: map[string]int{"order-0001": 1},
		reservation:     map[string]string{"order-0001": shipped, "order-0002": released},
		stock:           map[string]int{"widget": startStock - 2, "gadget": startStock, "gizmo": startStock},
		shipped:         map[string]int{"widget": 2},
		notified:        map[string]int{"order-0001": 1},
		settings:        goodSettings(),
	}
}

// goodSettings is a live change that took effect: v1 at the start, v2 (the
// mistake) refused, v3 applied at changed; a notification attempt timed
// out at 1s before the change, one in a call started before it that ended
// after, and one at 3s after it.
func goodSettings() settingsFacts {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	changed := start.Add(20 * time.Second)
	return settingsFacts{
		consumers:  []string{"processor"},
		first:      "v1",
		applied:    []versionAt{{"processor", "v1", start}, {"processor", "v3", changed}},
		refused:    []versionAt{{"processor", "v2", changed.Add(-time.Second)}},
		bad:        "v2",
		kept:       true,
		changed:    "v3",
		oldTimeout: time.Second,
		newTimeout: 3 * time.Second,
		timeouts: []timedOut{
			{"processor", start.Add(10 * time.Second), time.Second},
			{"processor", changed.Add(-time.Millisecond), time.Second},
			{"processor", changed.Add(time.Second), 3 * time.Second},
		},
	}
}

// clone copies f deeply enough for a case to change any of its maps.
func clone(f facts) facts {
	f.answers = maps.Clone(f.answers)
	f.ordersPerKey = maps.Clone(f.ordersPerKey)
	f.orderKey = maps.Clone(f.orderKey)
	f.sagas = maps.Clone(f.sagas)
	f.chargesPerKey = maps.Clone(f.chargesPerKey)
	f.chargesPerOrder = maps.Clone(f.chargesPerOrder)
	f.reservation = maps.Clone(f.reservation)
	f.stock = maps.Clone(f.stock)
	f.shipped = maps.Clone(f.shipped)
	f.notified = maps.Clone(f.notified)
	f.settings.consumers = slices.Clone(f.settings.consumers)
	f.settings.applied = slices.Clone(f.settings.applied)
	f.settings.refused = slices.Clone(f.settings.refused)
	f.settings.timeouts = slices.Clone(f.settings.timeouts)
	return f
}

func TestJudgePassesAGoodRun(t *testing.T) {
	for _, c := range judge(goodFacts()) {
		if !c.OK {
			t.Errorf("%s failed on a good run: %s", c.Promise, c.Detail)
		}
	}
}

// TestJudgeCatchesEachBrokenPromise breaks each promise in turn and checks
// that its check, and no other, fails.
func TestJudgeCatchesEachBrokenPromise(t *testing.T) {
	const (
		once      = "every order accepted exactly once"
		delivered = "every outbox message delivered"
		ended     = "every saga completed or compensated"
		charged   = "no card charged twice"
		stock     = "inventory back to its start for compensated orders"
		notified  = "every completed order notified once"
		dead      = "nothing left in a dead letter"
		live      = "settings changed live took effect"
	)
	changed := goodSettings().applied[1].at
	for _, tc := range []struct {
		name  string
		spoil func(*facts)
		fails []string
	}{
		{"a key made two orders", func(f *facts) {
			f.ordersPerKey["web-0002"] = 2
			f.orderKey["order-0004"] = "web-0002"
			f.sagas["order-0004"] = saga.Compensated
			f.reservation["order-0004"] = released
			f.streamMessages++
		}, []string{once}},
		{"a duplicate got another order back", func(f *facts) { f.answers["web-0002"] = []string{"order-0002", "order-0004"} }, []string{once}},
		{"a send failed", func(f *facts) { f.failed = []string{"web-0001"} }, []string{once}},
		{"a key made no order", func(f *facts) {
			delete(f.ordersPerKey, "web-0003")
			delete(f.orderKey, "order-0003")
			delete(f.sagas, "order-0003")
			f.streamMessages--
		}, []string{once}},
		{"an event is missing from the stream", func(f *facts) { f.streamMessages-- }, []string{delivered}},
		{"an event was stored twice", func(f *facts) { f.streamMessages++ }, []string{delivered}},
		{"an event is still in the outbox", func(f *facts) { f.backlog = 1 }, []string{delivered}},
		{"an event was dead-lettered", func(f *facts) { f.outboxDeadLetters = 1 }, []string{delivered, dead}},
		{"a saga is still running", func(f *facts) { f.sagas["order-0002"] = saga.Running }, []string{ended, stock}},
		{"a saga needs attention", func(f *facts) { f.sagas["order-0002"] = saga.NeedsAttention }, []string{ended, stock, dead}},
		{"an order has no saga", func(f *facts) { delete(f.sagas, "order-0003") }, []string{ended}},
		{"a key was charged twice", func(f *facts) {
			f.chargesPerKey["order-0001/charge-payment"] = 2
			f.chargesPerOrder["order-0001"] = 2
		}, []string{charged}},
		{"a compensated order was charged", func(f *facts) {
			f.chargesPerKey["order-0002/charge-payment"] = 1
			f.chargesPerOrder["order-0002"] = 1
		}, []string{charged}},
		{"a completed order was never charged", func(f *facts) {
			delete(f.chargesPerKey, "order-0001/charge-payment")
			delete(f.chargesPerOrder, "order-0001")
		}, []string{charged}},
		{"a compensated order kept its stock", func(f *facts) { f.reservation["order-0002"] = reserved }, []string{stock}},
		{"a completed order was not shipped", func(f *facts) { f.reservation["order-0001"] = reserved }, []string{stock}},
		{"stock does not add up", func(f *facts) { f.stock["gadget"] = startStock - 1 }, []string{stock}},
		{"a customer was told twice", func(f *facts) { f.notified["order-0001"] = 2 }, []string{notified}},
		{"a customer was never told", func(f *facts) { delete(f.notified, "order-0001") }, []string{notified}},
		{"a compensated order was notified", func(f *facts) { f.notified["order-0002"] = 1 }, []string{notified}},
		{"a message the processor dead-lettered", func(f *facts) { f.consumerDeadLetters = 1 }, []string{dead}},
		{"the new version was never applied", func(f *facts) { f.settings.applied = f.settings.applied[:1] }, []string{live}},
		{"a consumer did not apply the new version", func(f *facts) {
			f.settings.consumers = append(f.settings.consumers, "gateway")
			f.settings.refused = append(f.settings.refused, versionAt{"gateway", "v2", changed})
		}, []string{live}},
		{"no live change was made", func(f *facts) { f.settings.changed = "" }, []string{live}},
		{"the bad version was applied", func(f *facts) {
			f.settings.applied = append(f.settings.applied, versionAt{"processor", "v2", changed.Add(-time.Second)})
		}, []string{live}},
		{"the bad version was not refused", func(f *facts) { f.settings.refused = nil }, []string{live}},
		{"no bad version was written", func(f *facts) { f.settings.bad = "" }, []string{live}},
		{"the refusal changed the settings", func(f *facts) { f.settings.kept = false }, []string{live}},
		{"a call started after the change timed out at the old timeout", func(f *facts) {
			f.settings.timeouts = append(f.settings.timeouts, timedOut{"processor", changed.Add(2 * time.Second), time.Second})
		}, []string{live}},
		{"a call started as the change was applied timed out at the old timeout", func(f *facts) {
			f.settings.timeouts = append(f.settings.timeouts, timedOut{"processor", changed, time.Second})
		}, []string{live}},
		{"the change changed no timeout", func(f *facts) { f.settings.newTimeout = f.settings.oldTimeout }, []string{live}},
		{"no consumer follows the document", func(f *facts) { f.settings.consumers = nil }, []string{live}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := clone(goodFacts())
			tc.spoil(&f)
			got := map[string]bool{}
			for _, c := range judge(f) {
				if !c.OK {
					got[c.Promise] = true
				}
			}
			want := map[string]bool{}
			for _, p := range tc.fails {
				want[p] = true
			}
			if !maps.Equal(got, want) {
				t.Errorf("failed checks %v, want %v", got, want)
			}
		})
	}
}
