package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// story prints what happens, each line stamped with the seconds since the
// flow started. Every part of the flow writes to it from goroutines of its
// own, so it serialises the lines.
type story struct {
	mu     sync.Mutex
	out    io.Writer
	start  time.Time
	copies string // what becomes of an event published twice (broker.copies)
}

func newStory(out io.Writer) *story { return &story{out: out, start: time.Now()} }

// say prints one line of the story.
func (s *story) say(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, "%6.2fs  %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// heading prints a phase's title, set apart from the lines around it.
func (s *story) heading(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, "\n%6.2fs  ▶ %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// Write prints p as it is: the story is an io.Writer for loggers.
func (s *story) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

// plain prints text as it is, without a time stamp.
func (s *story) plain(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, format, args...)
}

// counters count the events too frequent to print one by one. Each part of
// the flow bumps its own; the phase summaries print the differences.
type counters struct {
	sent        atomic.Int64 // requests the shop client sent (duplicates and repeats included)
	replayed    atomic.Int64 // answers the order service replayed from its idempotency records
	clientRetry [retryReasons]atomic.Int64
	accepted    atomic.Int64 // orders the order service created

	published   atomic.Int64 // outbox messages the relay published and recorded
	republished atomic.Int64 // messages the relay published a second time (chaos)

	delivered  atomic.Int64 // deliveries of orders.created to the processor
	redelivery atomic.Int64 // deliveries the inbox recognised as processed

	stepRetry  [downstreams]atomic.Int64 // attempts the processor's transports retried
	rejected   [downstreams]atomic.Int64 // calls a breaker or bulkhead refused at once
	opened     [downstreams]atomic.Int64 // times a breaker opened
	timedOut   [downstreams]atomic.Int64 // attempts the processor's per-attempt timeouts cut off
	hedged     atomic.Int64              // backup requests to the notification service
	shed       atomic.Int64              // requests the inventory's shedder answered with 503
	completed  atomic.Int64              // sagas completed
	compensate atomic.Int64              // sagas compensated

	refused         atomic.Int64 // requests the gateway refused for their token (401, 403)
	limited         atomic.Int64 // orders the gateway answered 429 (the client's limit)
	unauthenticated atomic.Int64 // requests a service refused for their token (auth.go) or without a subject (fronted)
	probesReached   atomic.Int64 // requests with a probe key a service got
	detailsComplete atomic.Int64 // composed order details with every part
	detailsPartial  atomic.Int64 // composed order details marked partial
	servedOrders    atomic.Int64 // history answers of the orders service (the strangler's new side)
	servedMonolith  atomic.Int64 // history answers of the monolith
}

// Why the shop client retried a request.
const (
	retryTimeout = iota // the attempt timed out
	retryBusy           // 409: the first request with the key was still running
	retryLimited        // 429: over the client's rate limit
	retryFailed         // 5xx or a broken connection
	retryReasons
)

// The services the order processor calls.
const (
	svcInventory = iota
	svcPayments
	svcNotifications
	downstreams
)

var downstreamNames = [downstreams]string{"inventory", "payments", "notifications"}

// snapshot is the counters at one moment.
type snapshot map[string]int64

func (c *counters) snapshot() snapshot {
	s := snapshot{
		"sent": c.sent.Load(), "replayed": c.replayed.Load(), "accepted": c.accepted.Load(),
		"published": c.published.Load(), "republished": c.republished.Load(),
		"delivered": c.delivered.Load(), "redelivery": c.redelivery.Load(),
		"hedged": c.hedged.Load(), "shed": c.shed.Load(),
		"completed": c.completed.Load(), "compensated": c.compensate.Load(),
		"timeout": c.clientRetry[retryTimeout].Load(), "busy": c.clientRetry[retryBusy].Load(),
		"429": c.clientRetry[retryLimited].Load(), "5xx": c.clientRetry[retryFailed].Load(),
		"refused": c.refused.Load(), "limited": c.limited.Load(),
		"complete": c.detailsComplete.Load(), "partial": c.detailsPartial.Load(),
		"new": c.servedOrders.Load(), "old": c.servedMonolith.Load(),
	}
	for i, name := range downstreamNames {
		s["retry "+name] = c.stepRetry[i].Load()
		s["rejected "+name] = c.rejected[i].Load()
		s["timed out "+name] = c.timedOut[i].Load()
	}
	return s
}

// summary prints what the counters did since prev, in four lines: the
// gateway's, the shop's side, the broker's and the processor's.
func (s *story) summary(prev, now snapshot) {
	d := func(k string) int64 { return now[k] - prev[k] }
	perService := func(prefix string) string {
		var parts []string
		for _, name := range downstreamNames {
			if n := d(prefix + name); n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", name, n))
			}
		}
		if len(parts) == 0 {
			return "none"
		}
		return strings.Join(parts, ", ")
	}
	newShare := "no history requests"
	if n := d("new") + d("old"); n > 0 {
		newShare = fmt.Sprintf("%d of %d history requests (%.0f%%) to the orders service, the rest to the monolith", d("new"), n, 100*float64(d("new"))/float64(n))
	}
	s.plain("          gateway:   %d requests refused for their token (401/403), %d orders over a client's limit (429); order details: %d complete, %d partial; %s\n",
		d("refused"), d("limited"), d("complete"), d("partial"), newShare)
	s.plain("          shop:      %d orders accepted from %d requests; client retries: %d timed out, %d busy key (409), %d rate-limited (429), %d failed; %d answers replayed from the idempotency record\n",
		d("accepted"), d("sent"), d("timeout"), d("busy"), d("429"), d("5xx"), d("replayed"))
	s.plain("          broker:    %d events published (%d of them twice; %s); %d deliveries to the processor, %d of them redeliveries the inbox skipped\n",
		d("published"), d("republished"), s.copies, d("delivered"), d("redelivery"))
	s.plain("          processor: %d sagas completed, %d compensated; retried attempts: %s; timed-out attempts: %s; refused at once by a breaker or bulkhead: %s; %d hedged notifications; %d shed by inventory\n",
		d("completed"), d("compensated"), perService("retry "), perService("timed out "), perService("rejected "), d("hedged"), d("shed"))
}
