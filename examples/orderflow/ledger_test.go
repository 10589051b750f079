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

		probes:   []probe{{"no token", 401}, {"alg none", 401}, {"no orders:write scope", 403}},
		admitted: map[string][]time.Time{"web": seconds(0, 0.5, 1, 1.5), "partner": seconds(0, 0, 0, 0.34, 0.67, 1.0, 2)},
		limited:  map[string]int{"partner": 2},
		bursts:   map[string]int{"web": 1, "partner": 5},
		details: []detailRead{
			{order: "order-0001", start: at(1), end: at(1.1), status: 200, parts: []string{"order", "payment", "shipping"}},
			{order: "order-0002", start: at(3), end: at(3.1), status: 200, parts: []string{"order", "payment", "shipping"},
				partial: []string{"shipping"}, header: []string{"shipping"}},
		},
		faults:    map[string][]window{"inventory": {{from: at(2), until: at(4)}}, "payments": {{from: at(5)}}},
		histories: histories(map[int][2]int{0: {0, 20}, 1: {6, 14}, 2: {20, 0}}),
		weights:   []int{0, 25, 100},
		served:    map[string]int{sideOrders: 26, sideMonolith: 34},
		settings:  goodSettings(),
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

// t0 is the start of the good run's clock.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func seconds(s ...float64) []time.Time {
	var out []time.Time
	for _, x := range s {
		out = append(out, at(x))
	}
	return out
}

// histories makes, per phase, moved answers from the orders service and
// stayed ones from the monolith.
func histories(perPhase map[int][2]int) []historyRead {
	var out []historyRead
	for phase := range len(perPhase) {
		n := perPhase[phase]
		for range n[0] {
			out = append(out, historyRead{phase: phase, side: sideOrders, status: 200})
		}
		for range n[1] {
			out = append(out, historyRead{phase: phase, side: sideMonolith, status: 200})
		}
	}
	return out
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
	f.probes = slices.Clone(f.probes)
	f.admitted = maps.Clone(f.admitted)
	f.limited = maps.Clone(f.limited)
	f.bursts = maps.Clone(f.bursts)
	f.details = slices.Clone(f.details)
	f.faults = maps.Clone(f.faults)
	f.histories = slices.Clone(f.histories)
	f.served = maps.Clone(f.served)
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
		token     = "no request reached a service without a valid token"
		limits    = "the limits held"
		composed  = "composed answers were complete or marked partial"
		split     = "the strangler split matched its weight"
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
		{"a bad token got through the gateway", func(f *facts) { f.probes[1].status = 201 }, []string{token}},
		{"a bad request answered 502", func(f *facts) { f.probes[0].status = 502 }, []string{token}},
		{"no bad request was sent", func(f *facts) { f.probes = nil }, []string{token}},
		{"a service got a request without the gateway's subject", func(f *facts) { f.unauthenticated = 1 }, []string{token}},
		{"a service got a bad request's key", func(f *facts) { f.probesReached = 1 }, []string{token}},
		{"seven orders within a second", func(f *facts) {
			f.admitted["web"] = seconds(0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.999)
		}, []string{limits}},
		{"seven orders in one second", func(f *facts) {
			f.admitted["partner"] = append(f.admitted["partner"], at(0.5), at(0.9))
		}, []string{limits}},
		{"a burst beyond the limit got no 429", func(f *facts) { delete(f.limited, "partner") }, []string{limits}},
		{"a details read failed", func(f *facts) { f.details[0].status, f.details[0].err = 502, "bad gateway" }, []string{composed}},
		{"a partial answer without the header", func(f *facts) { f.details[1].header = nil }, []string{composed}},
		{"a part missing without a mark", func(f *facts) { f.details[0].parts = []string{"order", "payment"} }, []string{composed}},
		{"a partial answer while the service was up", func(f *facts) {
			f.details[0].partial, f.details[0].header = []string{"payment"}, []string{"payment"}
		}, []string{composed}},
		{"no details read", func(f *facts) { f.details = nil }, []string{composed}},
		{"the split is off its weight", func(f *facts) {
			f.histories = histories(map[int][2]int{0: {0, 20}, 1: {16, 4}, 2: {20, 0}})
			f.served = map[string]int{sideOrders: 36, sideMonolith: 24}
		}, []string{split}},
		{"a request went to the new side at weight 0", func(f *facts) {
			f.histories[0].side = sideOrders
			f.served = map[string]int{sideOrders: 27, sideMonolith: 33}
		}, []string{split}},
		{"too few history answers in a phase", func(f *facts) {
			f.histories = histories(map[int][2]int{0: {0, 20}, 1: {1, 3}, 2: {20, 0}})
			f.served = map[string]int{sideOrders: 21, sideMonolith: 23}
		}, []string{split}},
		{"the servers counted other answers", func(f *facts) { f.served[sideMonolith]++ }, []string{split}},
		{"a history answer of another shape", func(f *facts) { f.histories[3].err = "unknown field" }, []string{split}},
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
