package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/saga"
)

// Options configure one run of the flow.
type Options struct {
	Orders   int           // orders the shop sends
	Seed     uint64        // seeds the chaos and the shop's choices; 0 picks one (printed, to repeat the run)
	Phase    time.Duration // how long each of the four phases lasts
	Dir      string        // where the SQLite files and JetStream's storage go
	Postgres string        // a PostgreSQL DSN: the services' databases there instead of SQLite
	Broker   string        // nats (or ""), kafka or rabbitmq
	NATS     string        // with Broker nats: a NATS server's URL instead of an embedded server
	Kafka    string        // with Broker kafka: a Kafka-protocol server's address instead of an in-process kfake cluster
	RabbitMQ string        // with Broker rabbitmq: the server's AMQP URL ("" is defaultRabbitMQ)
	Etcd     string        // etcd endpoints (comma-separated): the registry and the settings there instead of in the process and Dir
	OTLP     string        // an OTLP/HTTP endpoint (host:port or URL) the run's spans are exported to as well
}

func (o Options) validate() error {
	switch {
	case o.Orders < 4:
		return fmt.Errorf("-orders must be at least 4, got %d", o.Orders)
	case o.Phase < time.Second:
		return fmt.Errorf("-phase must be at least 1s, got %v", o.Phase)
	case o.Dir == "":
		return errors.New("Options.Dir must name a directory")
	case o.Broker != "" && o.Broker != brokerNATS && o.Broker != brokerKafka && o.Broker != brokerRabbitMQ:
		return fmt.Errorf("-broker must be nats, kafka or rabbitmq, got %q", o.Broker)
	case o.NATS != "" && o.Broker != "" && o.Broker != brokerNATS:
		return errors.New("-nats needs -broker nats")
	case o.Kafka != "" && o.Broker != brokerKafka:
		return errors.New("-kafka needs -broker kafka")
	case o.RabbitMQ != "" && o.Broker != brokerRabbitMQ:
		return errors.New("-rabbitmq needs -broker rabbitmq")
	}
	return nil
}

// flow is everything a run starts, so that the audit can read it and close
// can stop it, last started first.
type flow struct {
	etcd          *etcdRun // nil without -etcd
	tracing       *tracing
	registry      *registry
	leave         map[string]func() // each registered service's deregistration
	settings      *settings
	storage       storage
	broker        broker
	payments      *paymentService
	inventory     *inventoryService
	notifications *notificationService
	processor     *processor
	orders        *orderService
	relay         *outbox.Relay
	relaying      *bulwark.Group
	monolith      *monolith
	issuer        *issuer
	edge          *edge
	forgeries     map[string]string // bad tokens the shop probes the gateway with
	shop          *shop
	sends         []send
	faults        map[string][]window // service → when its chaos was on
	count         *counters
}

// window is a stretch of time; a zero until means it has not ended.
type window struct{ from, until time.Time }

// overlaps reports whether w and [from, until] have a moment in common.
func (w window) overlaps(from, until time.Time) bool {
	end := w.until
	if end.IsZero() {
		end = until
	}
	return !from.After(end) && !until.Before(w.from)
}

// faultFrom notes that service's chaos starts now; faultUntil that it
// ended.
func (fl *flow) faultFrom(service string) {
	fl.faults[service] = append(fl.faults[service], window{from: time.Now()})
}

func (fl *flow) faultUntil(service string) {
	if w := fl.faults[service]; len(w) > 0 {
		w[len(w)-1].until = time.Now()
	}
}

// run starts the services, plays the four phases while the shop sends its
// orders, waits for the flow to settle and audits it. It returns an error
// only when the flow could not run; a broken promise is a failed Check.
func run(ctx context.Context, out io.Writer, o Options) (Ledger, error) {
	if err := o.validate(); err != nil {
		return Ledger{}, err
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64N(1_000_000) + 1
	}
	story := newStory(out)
	count := &counters{}
	fl := &flow{}
	defer func() {
		if err := fl.close(); err != nil {
			story.say("closing: %v", err)
		}
	}()
	if err := fl.start(ctx, o, story, count); err != nil {
		return Ledger{}, err
	}
	story.plain("bulwark's order flow: %d orders, phases of %v, seed %d (-seed %d repeats the shop's orders and the chaos dice)\n", o.Orders, o.Phase, o.Seed, o.Seed)
	story.plain("  shop ──HTTP+JWT──▶ gateway ──▶ orders ──outbox──▶ %s ──▶ processor ──saga──▶ inventory, payments, notifications\n", fl.broker.name())
	story.plain("  gateway: POST /orders (JWT, %d a second per client), GET /orders/{id}/details (composed: orders, payments, inventory), GET /history/ (strangler: monolith → orders, weight %s%% by phase)\n", ordersLimit, weightsText())
	story.plain("  databases: %s; broker: %s\n", fl.storage.describe(), fl.broker.describe())
	story.plain("  registry: %s; the processor's settings: %s; the gateway's document: %s\n", fl.registry.describe(), fl.settings.where, fl.edge.doc.where)
	story.plain("  traces: %s\n", fl.tracing.describe())

	prev, err := fl.play(ctx, o, story, count)
	if err != nil {
		return Ledger{}, err
	}
	if err := fl.settle(ctx, story, 2*time.Minute); err != nil {
		return Ledger{}, err
	}
	story.summary(prev, count.snapshot())

	f, err := audit(ctx, fl)
	if err != nil {
		return Ledger{}, fmt.Errorf("auditing the run: %w", err)
	}
	printWaterfall(story, f)
	l := newLedger(f, fl.sends, count)
	printLedger(story, l)
	return l, nil
}

// play runs the phases while the shop sends its orders, then lets the shop
// send some of them again. It returns the counters as they stood when the
// last phase ended.
func (fl *flow) play(ctx context.Context, o Options, story *story, count *counters) (snapshot, error) {
	// What goes wrong, and when.
	phases := []struct {
		title string
		enter func() error
	}{
		{"calm: every service is healthy", func() error { return nil }},
		{"payments flaky: 15% of charges fail with 503, 15% are confirmed after the caller's 500ms timeout",
			func() error {
				fl.faultFrom("payments")
				return fl.payments.flaky(0.15, 0.15, time.Second)
			}},
		{"inventory down: every request fails", func() error {
			fl.payments.heal()
			fl.faultUntil("payments")
			fl.faultFrom("inventory")
			return fl.inventory.down()
		}},
		{"inventory back; notifications slow: half of them take 1.5s; midway the operator gives the notification call a longer timeout", func() error {
			fl.inventory.heal()
			fl.faultUntil("inventory")
			return fl.notifications.slow(0.5, 1500*time.Millisecond)
		}},
	}
	// midway runs in the middle of its phase, which it splits in two
	// summaries.
	midway := map[int]func() error{
		len(phases) - 1: func() error { return fl.settings.change(ctx, o.Phase) },
	}
	start := time.Now()
	fl.sends = plan(o.Orders, o.Phase, len(phases), rand.New(rand.NewPCG(o.Seed, 0)))
	shopCtx, stopShop := context.WithCancel(ctx)
	shopDone := make(chan struct{})
	go func() {
		defer close(shopDone)
		fl.shop.run(shopCtx, fl.sends, start)
	}()
	defer func() {
		stopShop()
		<-shopDone
	}()
	prev := count.snapshot()
	for i, ph := range phases {
		story.heading("phase %d of %d — %s", i+1, len(phases), ph.title)
		if err := ph.enter(); err != nil {
			return nil, err
		}
		if err := fl.edge.setPhase(ctx, i); err != nil {
			return nil, err
		}
		fl.shop.sampleHistories(ctx, i, historySample)
		if i == 0 {
			fl.shop.probe(ctx, fl.forgeries)
		}
		if change := midway[i]; change != nil {
			if !sleepUntil(ctx, start.Add(time.Duration(i)*o.Phase+o.Phase/2)) {
				return nil, ctx.Err()
			}
			now := count.snapshot()
			story.summary(prev, now)
			prev = now
			if err := change(); err != nil {
				return nil, err
			}
		}
		if !sleepUntil(ctx, start.Add(time.Duration(i+1)*o.Phase)) {
			return nil, ctx.Err()
		}
		now := count.snapshot()
		story.summary(prev, now)
		if midway[i] != nil {
			story.plain("          settings:  %s\n", fl.settings.since())
		}
		prev = now
	}
	fl.notifications.heal()
	story.heading("every service healthy again; the shop sends its last orders and the flow settles")
	<-shopDone
	fl.shop.resend(ctx, fl.sends)
	return prev, nil
}

// start starts the broker, the services, the processor, the order service
// with its relay, and the shop client, in the order they depend on each
// other.
func (fl *flow) start(ctx context.Context, o Options, story *story, count *counters) error {
	fl.faults = map[string][]window{}
	fl.count = count
	fl.leave = map[string]func(){}
	if o.Etcd != "" {
		e, err := connectEtcd(ctx, o.Etcd)
		if err != nil {
			return err
		}
		fl.etcd = e
	}
	var err error
	if fl.tracing, err = newTracing(o.OTLP); err != nil {
		return err
	}
	// The token issuer first: every service checks the tokens of its
	// callers against its key set.
	if fl.issuer, err = startIssuer(); err != nil {
		return err
	}
	if fl.registry, err = newRegistry(fl.etcd); err != nil {
		return err
	}
	if o.Postgres != "" {
		pg, err := newPostgresStorage(ctx, o.Postgres)
		if err != nil {
			return err
		}
		fl.storage = pg
	} else {
		fl.storage = &sqliteStorage{dir: o.Dir}
	}
	if fl.broker, err = startBroker(ctx, o); err != nil {
		return err
	}
	story.copies = fl.broker.copies()
	dbs := map[string]*database{}
	for _, name := range []string{"orders", "payments", "inventory", "notifications", "processor"} {
		if dbs[name], err = fl.storage.open(ctx, name); err != nil {
			return err
		}
	}
	// Each service registers itself as soon as it listens, and leaves the
	// registry first when it closes (close).
	if fl.payments, err = startPaymentService(ctx, fl.storage, dbs["payments"], o.Seed+1, story, count); err != nil {
		return err
	}
	if err := fl.expose("payments", fl.payments.server); err != nil {
		return err
	}
	if fl.inventory, err = startInventoryService(ctx, dbs["inventory"], o.Seed+3, count); err != nil {
		return err
	}
	if err := fl.expose("inventory", fl.inventory.server); err != nil {
		return err
	}
	if fl.notifications, err = startNotificationService(ctx, dbs["notifications"], o.Seed+4); err != nil {
		return err
	}
	if err := fl.expose("notifications", fl.notifications.server); err != nil {
		return err
	}
	fns, err := downstreamFunctions()
	if err != nil {
		return err
	}
	if fl.settings, err = startSettings(ctx, o, fl.etcd, fns, downstreamObserver(story, count), story); err != nil {
		return err
	}
	processorToken, err := fl.issuer.processorToken()
	if err != nil {
		return err
	}
	if fl.processor, err = startProcessor(ctx, fl.storage, dbs["processor"], fl.broker, fl.tracing, processorToken, fl.registry.resolver(), fl.settings.set, o.Seed+5, o.Phase, story, count); err != nil {
		return err
	}
	var box outbox.Store
	if fl.orders, box, err = startOrderService(ctx, fl.storage, dbs["orders"], fl.tracing, o.Seed+6, story, count); err != nil {
		return err
	}
	if err := fl.expose("orders", fl.orders.server); err != nil {
		return err
	}
	if fl.relay, fl.relaying, err = startRelay(box, fl.broker, fl.tracing, o.Seed+7, story, count); err != nil {
		return err
	}
	if fl.monolith, err = startMonolith(dbs["orders"], count); err != nil {
		return err
	}
	if err := fl.expose("monolith", fl.monolith.server); err != nil {
		return err
	}
	return fl.startEdge(ctx, o, story, count)
}

// weightsText is historyWeights as "0 → 25 → 50 → 100".
func weightsText() string {
	ws := make([]string, len(historyWeights))
	for i, w := range historyWeights {
		ws[i] = strconv.Itoa(w)
	}
	return strings.Join(ws, " → ")
}

// startEdge starts the token issuer and the gateway in front of the
// services, mints the shop's clients their tokens (and the forgeries it
// probes the gateway with), waits until the gateway routes, and makes the
// shop client, which sends every request to the gateway.
func (fl *flow) startEdge(ctx context.Context, o Options, story *story, count *counters) error {
	// The gateway's document lives in the config source beside the
	// processor's settings; each phase's strangler weight is a new version.
	doc, err := openSlot(o, fl.etcd, "gateway", "gateway.yaml")
	if err != nil {
		return err
	}
	if fl.forgeries, err = fl.issuer.forgeries("web"); err != nil {
		return err
	}
	if fl.edge, err = startEdge(ctx, fl.registry.resolver(), fl.issuer.url(), doc, fl.tracing, story, count); err != nil {
		return err
	}
	tokens := map[string]string{}
	for _, client := range []string{"web", "partner"} {
		if tokens[client], err = fl.issuer.token(client); err != nil {
			return err
		}
	}
	if err := fl.edge.ready(ctx, tokens["web"]); err != nil {
		return err
	}
	if fl.shop, err = newShop(fl.edge.server.url, tokens, func() int { return int(fl.edge.phase.Load()) }, story, count); err != nil {
		return err
	}
	// Every request and message carries the trace (tracing.go): a root
	// span per order the shop sends, a server span per request a service
	// answers.
	fl.shop.http.Transport = fl.tracing.transport("shop", fl.shop.http.Transport)
	for name, s := range map[string]*server{"orders": fl.orders.server, "payments": fl.payments.server,
		"inventory": fl.inventory.server, "notifications": fl.notifications.server, "monolith": fl.monolith.server} {
		s.trace(fl.tracing, name)
	}
	return nil
}

// register adds service, listening at url, to the registry; close takes
// it out again before it closes the service.
// expose puts the service's own token check in front of its handlers
// (auth.go) and registers it.
func (fl *flow) expose(service string, s *server) error {
	if err := s.authenticate(service, fl.issuer.url(), fl.count); err != nil {
		return err
	}
	return fl.register(service, s.url)
}

func (fl *flow) register(service, url string) error {
	deregister, err := fl.registry.register(service, url)
	if err != nil {
		return err
	}
	fl.leave[service] = deregister
	return nil
}

// deregister takes service out of the registry, if it is in.
func (fl *flow) deregister(service string) {
	if leave := fl.leave[service]; leave != nil {
		leave()
		delete(fl.leave, service)
	}
}

// settle waits until every order's saga has ended and the outbox is empty,
// or limit has passed (the audit then tells what is missing).
func (fl *flow) settle(ctx context.Context, story *story, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		stats, err := fl.relay.Stats(ctx)
		if err != nil {
			return err
		}
		var orders int
		if err := fl.orders.db.QueryRowContext(ctx, `SELECT count(*) FROM orders`).Scan(&orders); err != nil {
			return err
		}
		snaps, err := fl.processor.orch.List(ctx, saga.ListQuery{})
		if err != nil {
			return err
		}
		ended := 0
		for _, s := range snaps {
			if s.Status.Terminal() {
				ended++
			}
		}
		if stats.Backlog == 0 && ended == orders && len(snaps) == orders {
			story.say("settled: %d sagas ended, the outbox is empty", ended)
			return nil
		}
		if time.Now().After(deadline) {
			story.say("the flow did not settle within %v: %d of %d sagas ended, %d events in the outbox", limit, ended, orders, stats.Backlog)
			return nil
		}
		if !sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

// close stops what start started, last started first.
func (fl *flow) close() error {
	if fl.shop != nil {
		fl.shop.close()
	}
	if fl.edge != nil {
		fl.edge.close()
	}
	if fl.issuer != nil {
		fl.issuer.close()
	}
	if fl.monolith != nil {
		fl.deregister("monolith")
		fl.monolith.close()
	}
	var errs []error
	if fl.relaying != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, fl.relaying.Stop(ctx))
		cancel()
	}
	if fl.orders != nil {
		fl.deregister("orders")
		errs = append(errs, fl.orders.close())
	}
	if fl.processor != nil {
		fl.processor.close()
	}
	if fl.settings != nil {
		errs = append(errs, fl.settings.close())
	}
	if fl.notifications != nil {
		fl.deregister("notifications")
		fl.notifications.close()
	}
	if fl.inventory != nil {
		fl.deregister("inventory")
		fl.inventory.close()
	}
	if fl.payments != nil {
		fl.deregister("payments")
		errs = append(errs, fl.payments.close())
	}
	if fl.broker != nil {
		fl.broker.close()
	}
	if fl.storage != nil {
		errs = append(errs, fl.storage.close())
	}
	for service := range fl.leave { // registered, but its service failed to start
		fl.deregister(service)
	}
	if fl.etcd != nil {
		errs = append(errs, fl.etcd.close())
	}
	errs = append(errs, fl.tracing.close())
	return errors.Join(errs...)
}
