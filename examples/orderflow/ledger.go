package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/saga"
)

// Check is one promise of the flow and whether the run kept it.
type Check struct {
	Promise string
	OK      bool
	Detail  string // the figures behind the verdict
}

// Ledger is the audit at the end of a run: the checks, and the figures the
// test looks at besides.
type Ledger struct {
	Checks      []Check
	Orders      int // orders the order service holds
	Completed   int
	Compensated int
	Declined    int // orders sent with the declined card
	Duplicates  int // sends that were copies of an earlier send
	Replayed    int // answers replayed from an idempotency record
	BreakerOpen int // times the inventory breaker opened

	Probes          int // bad requests the shop sent through the gateway
	Refused         int // of them refused with 401 or 403
	PartnerLimited  int // the partner's orders the gateway answered 429
	CompleteDetails int // composed order details with every part
	PartialDetails  int // composed order details marked partial
	ShippingPartial int // of them without the shipping part (inventory down)
	MovedHistory    int // history answers of the orders service (the strangler's new side)
}

// OK reports whether every check passed.
func (l Ledger) OK() bool {
	for _, c := range l.Checks {
		if !c.OK {
			return false
		}
	}
	return len(l.Checks) > 0
}

// facts is what the audit reads from the services' own databases, the
// broker and the shop client, before judging anything.
type facts struct {
	// The shop: the keys it sent, the orders each send got back, and the
	// sends that never got one.
	keys    []string
	answers map[string][]string
	failed  []string

	// The order service: the orders per idempotency key, and order → key.
	ordersPerKey map[string]int
	orderKey     map[string]string

	// The outbox and the broker.
	backlog, outboxDeadLetters int
	streamMessages             int // distinct events (by ID) the broker took
	consumerDeadLetters        int // in the broker's dead letters of the processor

	// The saga log: each order's saga status.
	sagas map[string]saga.Status

	// The payment service: charges per idempotency key and per order.
	chargesPerKey   map[string]int
	chargesPerOrder map[string]int

	// The inventory service: each order's reservation state, the stock
	// now and the quantity shipped, per SKU.
	reservation map[string]string
	stock       map[string]int
	shipped     map[string]int

	// The notification service: notifications per order.
	notified map[string]int

	// The edge: the shop's bad requests and their statuses; requests the
	// fronted services got without the gateway's subject, or with a probe
	// key.
	probes          []probe
	unauthenticated int
	probesReached   int
	// The gateway's limit: per client, when its orders went through, how
	// many got 429, and the most orders it sent at once.
	admitted map[string][]time.Time
	limited  map[string]int
	bursts   map[string]int
	// The composed order details the shop read, and when each service's
	// chaos was on.
	details []detailRead
	faults  map[string][]window
	// The history requests the shop made, the weights of the phases, and
	// the answers each server counted.
	histories []historyRead
	weights   []int
	served    map[string]int
	// The processor's settings: the versions its consumers applied and
	// refused, and the notification attempts that timed out.
	settings settingsFacts
	// The run's spans, and how many never ended (tracing.go).
	traces    []spanRecord
	openSpans int
}

// judge checks the flow's promises against the facts. It reads nothing
// else, so the test can hand it facts that break each promise.
func judge(f facts) []Check {
	var checks []Check
	check := func(promise string, ok bool, detail string, args ...any) {
		checks = append(checks, Check{Promise: promise, OK: ok, Detail: fmt.Sprintf(detail, args...)})
	}

	// Every order accepted once, however often it was sent.
	var twice, differing []string
	sends := 0
	for _, k := range f.keys {
		if f.ordersPerKey[k] != 1 {
			twice = append(twice, fmt.Sprintf("%s: %d orders", k, f.ordersPerKey[k]))
		}
		answers := f.answers[k]
		sends += len(answers)
		for _, a := range answers {
			if a != answers[0] {
				differing = append(differing, k)
				break
			}
		}
	}
	extra := len(f.ordersPerKey) - len(f.keys)
	check("every order accepted exactly once",
		len(twice) == 0 && len(differing) == 0 && len(f.failed) == 0 && extra == 0,
		"%d keys, %d sends: %d orders; keys without exactly one order: %s; keys answered with different orders: %s; sends that failed: %s",
		len(f.keys), sends, len(f.orderKey), list(twice), list(differing), list(f.failed))

	// Every event the order service wrote reached the broker.
	check("every outbox message delivered",
		f.backlog == 0 && f.outboxDeadLetters == 0 && f.streamMessages == len(f.orderKey),
		"%d orders, %d distinct events on the broker (a copy published again has its event's ID); %d pending in the outbox",
		len(f.orderKey), f.streamMessages, f.backlog)

	// Every saga at its end.
	statuses := map[saga.Status]int{}
	var missing []string
	for order := range f.orderKey {
		st, ok := f.sagas[order]
		if !ok {
			missing = append(missing, order)
		}
		statuses[st]++
	}
	check("every saga completed or compensated",
		len(missing) == 0 && statuses[saga.Completed]+statuses[saga.Compensated] == len(f.orderKey) && len(f.sagas) == len(f.orderKey),
		"%d completed, %d compensated, %d running, %d compensating, %d need attention; orders without a saga: %s",
		statuses[saga.Completed], statuses[saga.Compensated], statuses[saga.Running], statuses[saga.Compensating],
		statuses[saga.NeedsAttention]+statuses[saga.Abandoned], list(missing))

	// No card charged twice; every completed order charged once, every
	// declined one never.
	var double, wrong []string
	for k, n := range f.chargesPerKey {
		if n > 1 {
			double = append(double, fmt.Sprintf("%s: %d charges", k, n))
		}
	}
	charges := 0
	for order, st := range f.sagas {
		n := f.chargesPerOrder[order]
		charges += n
		if (st == saga.Completed) != (n == 1) || n > 1 {
			wrong = append(wrong, fmt.Sprintf("%s %s with %d charges", order, st, n))
		}
	}
	check("no card charged twice",
		len(double) == 0 && len(wrong) == 0,
		"%d charges for %d charge keys; keys charged twice: %s; orders charged wrongly: %s",
		charges, len(f.chargesPerKey), list(double), list(wrong))

	// Stock: what compensated orders reserved went back; what completed
	// orders reserved was shipped; stock now is the start less what shipped.
	var held, stockOff []string
	returned := 0
	for order, st := range f.sagas {
		r := f.reservation[order]
		switch {
		case st == saga.Compensated && (r == released || r == ""):
			returned++
		case st == saga.Completed && r == shipped:
		default:
			held = append(held, fmt.Sprintf("%s %s with its reservation %q", order, st, r))
		}
	}
	for _, sku := range skus {
		if f.stock[sku] != startStock-f.shipped[sku] {
			stockOff = append(stockOff, fmt.Sprintf("%s: %d in stock, %d shipped", sku, f.stock[sku], f.shipped[sku]))
		}
	}
	check("inventory back to its start for compensated orders",
		len(held) == 0 && len(stockOff) == 0,
		"%d compensated orders' stock released; stock = %d − shipped for every SKU; orders holding stock wrongly: %s; SKUs off: %s",
		returned, startStock, list(held), list(stockOff))

	// Customers told once about each completed order, never about a
	// compensated one.
	var notes []string
	for order, st := range f.sagas {
		if n := f.notified[order]; (st == saga.Completed) != (n == 1) || n > 1 {
			notes = append(notes, fmt.Sprintf("%s %s notified %d times", order, st, n))
		}
	}
	check("every completed order notified once", len(notes) == 0,
		"%d notifications; orders notified wrongly: %s", sum(f.notified), list(notes))

	// The operator's live change: the corrected version applied by every
	// consumer of the document, the one with the mistake refused by every
	// one of them with the settings kept, and no notification call started
	// after the change timed out at anything but the new timeout.
	sf := f.settings
	var notApplied, badApplied, notRefused, late []string
	for _, c := range sf.consumers {
		if !appliedBy(sf.applied, c, sf.changed) {
			notApplied = append(notApplied, c)
		}
		if appliedBy(sf.applied, c, sf.bad) {
			badApplied = append(badApplied, c)
		}
		if !appliedBy(sf.refused, c, sf.bad) {
			notRefused = append(notRefused, c)
		}
	}
	var before, atNew int
	for _, t := range sf.timeouts {
		at := sf.changedAt(t.consumer)
		switch {
		case !at.IsZero() && !t.callStart.Before(at) && t.timeout != sf.newTimeout:
			late = append(late, fmt.Sprintf("a call started %v after the change timed out at %v", t.callStart.Sub(at).Round(time.Millisecond), t.timeout))
		case !at.IsZero() && !t.callStart.Before(at):
			atNew++
		default:
			before++
		}
	}
	check("settings changed live took effect",
		len(sf.consumers) > 0 && sf.changed != "" && sf.bad != "" && sf.changed != sf.bad && sf.newTimeout != sf.oldTimeout &&
			len(notApplied) == 0 && len(badApplied) == 0 && len(notRefused) == 0 && sf.kept && len(late) == 0,
		"version %s (notifications timeout %v → %v) applied by %s, not by: %s; version %s (a bulkhead of -4) refused by every consumer, settings kept: %v (applied by: %s; not refused by: %s); notification attempts timed out: %d in calls started before the change, %d after it at %v; at the old timeout after it: %s",
		or(sf.changed, "(none)"), sf.oldTimeout, sf.newTimeout, list(slices.Clone(sf.consumers)), list(notApplied), or(sf.bad, "(none)"), sf.kept,
		list(badApplied), list(notRefused), before, atNew, sf.newTimeout, list(late))

	check("nothing left in a dead letter",
		f.outboxDeadLetters == 0 && f.consumerDeadLetters == 0 && statuses[saga.NeedsAttention]+statuses[saga.Abandoned] == 0,
		"%d outbox dead letters, %d processor dead letters, %d sagas needing attention",
		f.outboxDeadLetters, f.consumerDeadLetters, statuses[saga.NeedsAttention]+statuses[saga.Abandoned])

	judgeEdge(f, check)
	return checks
}

// judgeEdge checks the gateway's promises.
func judgeEdge(f facts, check func(promise string, ok bool, detail string, args ...any)) {
	// Only requests with a valid token reach a service.
	var through []string
	refused := 0
	for _, p := range f.probes {
		if p.status == http.StatusUnauthorized || p.status == http.StatusForbidden {
			refused++
		} else {
			through = append(through, fmt.Sprintf("%s: %d", p.name, p.status))
		}
	}
	check("no request reached a service without a valid token",
		len(f.probes) > 0 && len(through) == 0 && f.unauthenticated == 0 && f.probesReached == 0,
		"%d bad requests through the gateway (no token, forged subject header, expired, wrong audience, alg none, HS256 key confusion, another key, no scope): %d refused with 401/403, not refused: %s; requests the services' own token checks refused: %d, requests that reached a service with a bad request's key: %d",
		len(f.probes), refused, list(through), f.unauthenticated, f.probesReached)

	// The limit held: a token bucket of ordersLimit a second with a burst
	// of as many lets at most twice that through in any second.
	bound := 2 * ordersLimit
	var over, unrefused, most []string
	for _, client := range sortedKeys(f.admitted) {
		times := slices.SortedFunc(slices.Values(f.admitted[client]), func(a, b time.Time) int { return a.Compare(b) })
		peak := 0
		for i, j := 0, 0; i < len(times); i++ {
			for times[i].Sub(times[j]) >= time.Second {
				j++
			}
			peak = max(peak, i-j+1)
		}
		most = append(most, fmt.Sprintf("%s %d (%d answered 429)", client, peak, f.limited[client]))
		if peak > bound {
			over = append(over, fmt.Sprintf("%s: %d in one second", client, peak))
		}
	}
	for _, client := range sortedKeys(f.bursts) {
		if f.bursts[client] > ordersLimit && f.limited[client] == 0 {
			unrefused = append(unrefused, fmt.Sprintf("%s sent %d at once", client, f.bursts[client]))
		}
	}
	check("the limits held",
		len(f.admitted) > 0 && len(over) == 0 && len(unrefused) == 0,
		"at most %d orders per client let through in any second (%d a second, bursts of %d): most in one second: %s; over: %s; bursts beyond %d without a 429: %s",
		bound, ordersLimit, ordersLimit, list(most), list(over), ordersLimit, list(unrefused))

	// Composed answers: whole, or marked partial, and partial only while a
	// part's service was down.
	var failed, unmarked, outside []string
	complete, partial := 0, 0
	partialParts := map[string]int{}
	all := sortedKeys(detailParts)
	for _, d := range f.details {
		switch {
		case d.status != http.StatusOK || d.err != "":
			failed = append(failed, fmt.Sprintf("%s: %d %s", d.order, d.status, d.err))
		case !slices.Equal(d.parts, all):
			unmarked = append(unmarked, fmt.Sprintf("%s has parts %v", d.order, d.parts))
		case len(d.partial) == 0 && len(d.header) == 0:
			complete++
		case !slices.Equal(d.partial, d.header):
			unmarked = append(unmarked, fmt.Sprintf("%s: _partial %v, X-Partial %v", d.order, d.partial, d.header))
		default:
			partial++
			for _, part := range d.partial {
				partialParts[part]++
				down := false
				for _, w := range f.faults[detailParts[part]] {
					down = down || w.overlaps(d.start, d.end)
				}
				if !down {
					outside = append(outside, fmt.Sprintf("%s without its %s part", d.order, part))
				}
			}
		}
	}
	var parts []string
	for _, part := range sortedKeys(partialParts) {
		parts = append(parts, fmt.Sprintf("%s %d", part, partialParts[part]))
	}
	check("composed answers were complete or marked partial",
		len(f.details) > 0 && len(failed) == 0 && len(unmarked) == 0 && len(outside) == 0,
		"%d order details read: %d complete, %d partial (parts that fell back: %s); partial while the part's service was up: %s; failed: %s; not marked as they should be: %s",
		len(f.details), complete, partial, list(parts), list(outside), list(failed), list(unmarked))

	// The strangler split follows the weight of each phase.
	type tally struct{ n, moved int }
	perPhase := make([]tally, len(f.weights))
	sides := map[string]int{}
	var wrong, bad []string
	across := 0
	for _, h := range f.histories {
		if h.status != http.StatusOK || h.err != "" {
			bad = append(bad, fmt.Sprintf("%d from %q: %s", h.status, h.side, h.err))
			continue
		}
		sides[h.side]++
		if h.phase < 0 || h.phase >= len(perPhase) {
			across++
			continue
		}
		perPhase[h.phase].n++
		if h.side == sideOrders {
			perPhase[h.phase].moved++
		}
	}
	var phases []string
	for i, t := range perPhase {
		w := f.weights[i]
		share, tol := 0.0, splitTolerance(w, t.n)
		if t.n > 0 {
			share = 100 * float64(t.moved) / float64(t.n)
		}
		phases = append(phases, fmt.Sprintf("phase %d: %.0f%% of %d (weight %d%% ± %.0f)", i+1, share, t.n, w, tol))
		if t.n < minSplitSample || math.Abs(share-float64(w)) > tol {
			wrong = append(wrong, fmt.Sprintf("phase %d", i+1))
		}
	}
	counted := sides[sideOrders] == f.served[sideOrders] && sides[sideMonolith] == f.served[sideMonolith] && len(sides) <= 2
	check("the strangler split matched its weight",
		len(wrong) == 0 && len(bad) == 0 && counted,
		"to the orders service: %s; off (or fewer than %d answers): %s; answers in the shop: orders %d, monolith %d, at the servers: orders %d, monolith %d; %d across a reload (not in a phase); answers not in the history's shape: %s",
		strings.Join(phases, ", "), minSplitSample, list(wrong), sides[sideOrders], sides[sideMonolith], f.served[sideOrders], f.served[sideMonolith], across, list(bad))
}

// minSplitSample is the fewest history answers a phase needs for its split
// to be judged.
const minSplitSample = 10

// splitTolerance is how far, in points, the share of n sticky keys sent to
// the new side may be from weight w: none at 0 and 100%, otherwise 3.5
// standard deviations of a binomial share (the keys' hashes fall like fair
// dice), and at least 5 points.
func splitTolerance(w, n int) float64 {
	if w <= 0 || w >= 100 || n == 0 {
		return 0
	}
	p := float64(w) / 100
	return max(5, 350*math.Sqrt(p*(1-p)/float64(n)))
}

// appliedBy reports whether consumer has version in vs.
func appliedBy(vs []versionAt, consumer, version string) bool {
	if version == "" {
		return false
	}
	return slices.ContainsFunc(vs, func(v versionAt) bool { return v.consumer == consumer && v.version == version })
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func list(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	slices.Sort(items)
	if len(items) > 5 {
		return strings.Join(items[:5], "; ") + fmt.Sprintf("; and %d more", len(items)-5)
	}
	return strings.Join(items, "; ")
}

func sum(m map[string]int) int {
	n := 0
	for v := range maps.Values(m) {
		n += v
	}
	return n
}

// newLedger sums the run up: the checks, and the figures the test reads.
func newLedger(f facts, sends []send, count *counters) Ledger {
	l := Ledger{Checks: append(judge(f), traceCheck(f)), Orders: len(f.orderKey), Replayed: int(count.replayed.Load()),
		BreakerOpen: int(count.opened[svcInventory].Load())}
	for _, st := range f.sagas {
		switch st {
		case saga.Completed:
			l.Completed++
		case saga.Compensated:
			l.Compensated++
		}
	}
	l.Probes = len(f.probes)
	for _, p := range f.probes {
		if p.status == http.StatusUnauthorized || p.status == http.StatusForbidden {
			l.Refused++
		}
	}
	l.PartnerLimited = f.limited["partner"]
	for _, d := range f.details {
		switch {
		case d.status != http.StatusOK || d.err != "":
		case len(d.partial) == 0:
			l.CompleteDetails++
		default:
			l.PartialDetails++
			if slices.Contains(d.partial, "shipping") {
				l.ShippingPartial++
			}
		}
	}
	l.MovedHistory = f.served[sideOrders]
	for _, s := range sends {
		if s.req.Card == declinedCard {
			l.Declined++
		}
		if s.twice {
			l.Duplicates++
		}
		if s.again {
			l.Duplicates++
		}
	}
	return l
}

// printLedger prints the checks, and the verdict.
func printLedger(s *story, l Ledger) {
	s.plain("\nThe ledger, from the services' own databases, the broker and the shop:\n")
	for _, c := range l.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		s.plain("  [%s] %s\n         %s\n", mark, c.Promise, c.Detail)
	}
	if l.OK() {
		s.plain("\nEvery promise kept: %d orders, %d completed and %d compensated (%d declined cards), despite %d duplicate sends, events published twice, lost acks, a flaky payment service, an inventory outage and slow notifications; behind a gateway that refused %d bad tokens, held the partner to its limit (%d × 429), marked %d order details partial while a service was down, and moved the order history to the orders service.\n",
			l.Orders, l.Completed, l.Compensated, l.Declined, l.Duplicates, l.Refused, l.PartnerLimited, l.PartialDetails)
	} else {
		s.plain("\nA promise was broken: see FAIL above.\n")
	}
}

// audit gathers the facts from every party.
func audit(ctx context.Context, fl *flow) (facts, error) {
	f := facts{
		ordersPerKey: map[string]int{}, orderKey: map[string]string{},
		sagas: map[string]saga.Status{}, chargesPerKey: map[string]int{}, chargesPerOrder: map[string]int{},
		reservation: map[string]string{}, stock: map[string]int{}, shipped: map[string]int{}, notified: map[string]int{},
	}
	for _, s := range fl.sends {
		f.keys = append(f.keys, s.key)
	}
	f.settings = fl.settings.facts()
	fl.shop.mu.Lock()
	f.answers = maps.Clone(fl.shop.answers)
	f.failed = slices.Clone(fl.shop.failed)
	f.probes = slices.Clone(fl.shop.probes)
	f.details = slices.Clone(fl.shop.details)
	f.histories = slices.Clone(fl.shop.histories)
	fl.shop.mu.Unlock()
	fl.edge.mu.Lock()
	f.admitted = maps.Clone(fl.edge.admitted)
	f.limited = maps.Clone(fl.edge.limited)
	fl.edge.mu.Unlock()
	f.bursts = bursts(fl.sends)
	f.faults = fl.faults
	f.weights = historyWeights
	f.unauthenticated = int(fl.count.unauthenticated.Load())
	f.probesReached = int(fl.count.probesReached.Load())
	f.served = map[string]int{sideOrders: int(fl.count.servedOrders.Load()), sideMonolith: int(fl.count.servedMonolith.Load())}
	f.traces, f.openSpans = fl.tracing.recorded(ctx, 5*time.Second)

	err := query(ctx, fl.orders.db, `SELECT id, idempotency_key FROM orders`, func(scan func(...any) error) error {
		var id, key string
		if err := scan(&id, &key); err != nil {
			return err
		}
		f.orderKey[id] = key
		f.ordersPerKey[key]++
		return nil
	})
	if err != nil {
		return f, err
	}
	stats, err := fl.relay.Stats(ctx)
	if err != nil {
		return f, err
	}
	f.backlog, f.outboxDeadLetters = stats.Backlog, stats.DeadLetters
	if f.streamMessages, err = fl.broker.messages(ctx); err != nil {
		return f, err
	}
	if f.consumerDeadLetters, err = fl.broker.deadLetters(ctx); err != nil {
		return f, err
	}
	snaps, err := fl.processor.orch.List(ctx, saga.ListQuery{})
	if err != nil {
		return f, err
	}
	for _, s := range snaps {
		f.sagas[s.ID] = s.Status
	}
	err = query(ctx, fl.payments.db, `SELECT idempotency_key, order_id FROM charges`, func(scan func(...any) error) error {
		var key, order string
		if err := scan(&key, &order); err != nil {
			return err
		}
		f.chargesPerKey[key]++
		f.chargesPerOrder[order]++
		return nil
	})
	if err != nil {
		return f, err
	}
	err = query(ctx, fl.inventory.db, `SELECT order_id, sku, qty, state FROM reservations`, func(scan func(...any) error) error {
		var order, sku, state string
		var qty int
		if err := scan(&order, &sku, &qty, &state); err != nil {
			return err
		}
		f.reservation[order] = state
		if state == shipped {
			f.shipped[sku] += qty
		}
		return nil
	})
	if err != nil {
		return f, err
	}
	err = query(ctx, fl.inventory.db, `SELECT sku, available FROM stock`, func(scan func(...any) error) error {
		var sku string
		var n int
		if err := scan(&sku, &n); err != nil {
			return err
		}
		f.stock[sku] = n
		return nil
	})
	if err != nil {
		return f, err
	}
	err = query(ctx, fl.notifications.db, `SELECT order_id FROM notifications`, func(scan func(...any) error) error {
		var order string
		if err := scan(&order); err != nil {
			return err
		}
		f.notified[order]++
		return nil
	})
	return f, err
}

// bursts is, per client, the most orders it sent at the same moment
// (copies sent at once included).
func bursts(sends []send) map[string]int {
	at := map[string]map[time.Duration]int{}
	out := map[string]int{}
	for _, s := range sends {
		if at[s.client] == nil {
			at[s.client] = map[time.Duration]int{}
		}
		at[s.client][s.at]++
		if s.twice {
			at[s.client][s.at]++
		}
		out[s.client] = max(out[s.client], at[s.client][s.at])
	}
	return out
}

// query runs q on db and calls row for each row with its Scan.
func query(ctx context.Context, db *database, q string, row func(scan func(...any) error) error) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
