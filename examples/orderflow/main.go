// Command orderflow is bulwark's main example: an order flow — order →
// inventory → payment → notification — whose services fail in every way
// the library's patterns are there for, and which keeps its promises all
// the same. It runs in one process, with nothing to install:
//
//	go run ./examples/orderflow
//	go run ./examples/orderflow -orders 100 -seed 7 -phase 3s
//	go run ./examples/orderflow -postgres postgres://postgres@127.0.0.1:5432/test
//	go run ./examples/orderflow -broker kafka
//	go run ./examples/orderflow -broker rabbitmq -rabbitmq amqp://guest:guest@127.0.0.1:5672/
//	go run ./examples/orderflow -etcd 127.0.0.1:2379
//	go run ./examples/orderflow -otlp 127.0.0.1:4318
//
// # The flow
//
//	shop ──HTTP+JWT──▶ gateway ──▶ orders ──outbox──▶ JetStream ──▶ processor ──saga──▶ inventory, payments, notifications
//	                      │  ├──▶ GET /orders/{id}/details: orders + payments + inventory, composed
//	                      │  └──▶ GET /history/: monolith ⇢ orders (strangler fig, by weight)
//	                   issuer (JWKS)
//
// The services talk over real HTTP on the loopback interface and over an
// embedded NATS JetStream; each keeps its data in a database of its own
// (an SQLite file, or a PostgreSQL schema with -postgres). -nats URL
// uses a running NATS server instead (natsbroker.go). -broker kafka
// puts Kafka in JetStream's place (an in-process kfake cluster, or the
// server -kafka names: kafkaoutbox, kafkaconsume and its dead-letter
// topic), and -broker rabbitmq a running RabbitMQ (-rabbitmq URL; there is
// no embedded one: rabbitoutbox, rabbitconsume and rabbitdlq), each in
// topics or queues of the run's own (kafkabroker.go, rabbitbroker.go).
// JetStream drops a copy the relay publishes again; Kafka and RabbitMQ
// keep it, and the processor's inbox skips it.
//
// Each service registers its address in the registry (registry.go) when it
// starts and leaves it when it closes, and the gateway's pools and the
// processor's clients find the services there (a gateway/upstream pool per
// service); the processor's
// policies come from a policyset document in a config source
// (settings.go): the file settings.json in the run's directory, read every
// 50ms. -etcd ENDPOINTS puts both in etcd, under a key prefix of the run's
// own deleted at the end: each service is an etcddiscovery.Registration
// with a 5s lease (an instance that dies leaves the pool when its lease
// ends; one that closes revokes it), the processor's clients follow
// etcddiscovery's Resolver, and the settings and the gateway's document are
// an etcd key each (etcdconfig).
//
//   - The shop client (shop.go) sends orders through the gateway, each
//     with its client's ("web" or "partner") bearer token and an
//     Idempotency-Key, and retries through timeouts, 409s, 429s and 5xx
//     (retry → timeout, in a bulwarkhttp.Transport). Some orders it sends
//     twice at once, some again at the end. After each accepted order it
//     reads the order's details, and all along it reads its clients'
//     order histories (reads.go). At the start it sends eight bad requests:
//     no token, a forged subject header, an expired token, a wrong
//     audience, alg none, HS256 signed with the issuer's public key, a
//     token signed by another key, and one without the orders:write scope.
//   - A token issuer (issuer.go) holds an RSA key, serves its JWKS on
//     loopback and mints the clients' tokens (sub, iss, aud, exp, scope)
//     and the processor's.
//   - Every service checks each caller's token itself before any handler
//     runs (auth.go: a jwtauth.Route with a Verifier of its own, taking
//     the subject from the token as X-Subject): the gateway passes the
//     client's token on, and the processor's calls carry its own token. A
//     request without a valid token is answered 401 and counted.
//   - The gateway (edge.go; package gateway, from a document whose
//     upstreams the flow's registry resolves) verifies every request's
//     token (401, or 403 without the route's scope) and forwards its
//     subject as X-Subject, removing any copy the client sent. POST
//     /orders goes to the order service, each client held to 3 orders a
//     second (a token bucket per subject, clientlimit: 429 with
//     Retry-After and the RateLimit fields). GET /orders/{id}/details is
//     composed from the order (orders), its charge (payments) and its
//     reservation's state (inventory); the payment and shipping parts
//     have an 800ms timeout and a fallback, so while the inventory is down
//     the answer comes without shipping, marked partial (X-Partial,
//     "_partial"). GET /history/{client}/orders goes to the legacy
//     monolith (history.go) or to the orders service by a strangler
//     weight, sticky per request key. The gateway follows its document in
//     the config source (gateway.yaml beside settings.json, or its own etcd
//     key); each phase the operator writes a version with a higher weight
//     (0, 25, 50, then 100%) and the gateway swaps its routes without a
//     restart.
//   - The order service (orderservice.go) takes the client from the
//     X-Subject its token check set, runs each key once per client
//     (bulwarkhttp.Idempotency; retries get the first response back), and
//     writes the order and its orders.created event in one transaction
//     (the transactional outbox).
//   - The relay (broker.go) publishes the committed events to JetStream
//     (outbox.Relay with natsoutbox), each with its ID as Nats-Msg-Id, so
//     the stream drops the copy when a lost ack makes the relay publish an
//     event again.
//   - The order processor (processor.go) consumes the events with a
//     consume.Consumer fed by natsconsume from a durable JetStream
//     consumer: up to 64 orders at once, each acked once its saga ended,
//     a failed one retried in place and then delivered again, one that
//     keeps failing (10 deliveries) or cannot be read dead-lettered to the
//     DEAD stream. Chaos loses some of its acks; the handler runs each
//     message once (idempotency.Inbox), so a redelivery is skipped. Each
//     order runs a saga (saga.go): reserve inventory, charge the payment
//     (the pivot), ship and notify (retriable), releasing the reservation
//     when the card is declined. Each step calls its service through its
//     own client (downstream.go): retry → circuit breaker → bulkhead →
//     timeout, with a hedge for the notifications, and passes the step's
//     stable idempotency key, so that no retry charges a card twice.
//   - The payment, inventory and notification services (payments.go,
//     inventory.go, notifications.go) do each key's work once. Chaos
//     injectors make them fail in four phases (flow.go): calm, payments
//     flaky, inventory down (the breaker opens, calls fail fast with
//     Retry-After, half-open probes close it once inventory is back),
//     notifications slow. The inventory sheds load with an adaptive
//     bulkhead.
//   - Midway through the slow notifications the operator changes the
//     settings live: a first document, with a bulkhead limit of -4 in it,
//     is refused as a whole (logged, the settings stay); the corrected one
//     raises the notification call's per-attempt timeout from 1s to 3s,
//     and the processor applies it without a restart, to every call that
//     starts after it. The phase's two summaries show the notification
//     timeouts before and after.
//
// Every request and message carries the order's trace (tracing.go), in
// W3C trace context: the shop starts a root span per order it sends; each
// service answers in a server span, child of the traceparent header; the
// order service writes the trace context into the headers of the order's
// outbox message; the relay publishes in a span of its own
// (otelbulwark's TracePublisher), and the processor handles the message in
// a span continuing it (ConsumeMiddleware); each saga step's action or
// compensation runs in a span, and the processor's clients inject the
// trace into their requests to inventory, payments and notifications.
// Each service has a TracerProvider of its own (service.name shop, orders,
// relay, processor, payments, inventory, notifications), all feeding one
// in-memory recorder; -otlp ADDR exports the spans to a collector too,
// over OTLP/HTTP (127.0.0.1:4318 for a local Jaeger). The run ends by
// printing the trace of one completed order as a waterfall (waterfall.go).
//
// At the end the program audits the run from the services' own databases,
// the broker, the gateway and the shop client (ledger.go) and prints a
// ledger: every order accepted once despite the duplicates; every outbox
// message delivered; every saga completed or compensated; no card charged
// twice; the stock of compensated orders back; every completed order
// notified once; nothing left in the outbox's or the processor's dead
// letters; no request reached a service without a valid token (every bad
// request refused with 401 or 403, none seen by a service); the limits held
// (no client got more than a burst plus a second's rate through in any
// second, and a burst beyond the limit got 429s); composed answers were
// complete or marked partial, and partial only while a part's service was
// failing; the strangler split of each phase matched its weight (within
// 3.5 standard deviations of a binomial share, at least 5 points; exactly
// at 0 and 100%), and the answers the shop counted are those the two
// servers counted; the live change applied by the processor, the bad
// document refused with the settings kept, and no notification call started
// after the change timed out at the old timeout; the trace of every order complete: spans of
// every service it crossed, of its saga's steps, and no span whose parent is
// missing. It exits with status 1 if a
// check fails.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"
)

func main() {
	var o Options
	flag.IntVar(&o.Orders, "orders", 60, "orders the shop sends")
	flag.Uint64Var(&o.Seed, "seed", 0, "seed of the chaos and of the shop's choices (0: a random one, printed)")
	flag.DurationVar(&o.Phase, "phase", 6*time.Second, "how long each of the four phases lasts")
	flag.StringVar(&o.Postgres, "postgres", "", "keep the services' databases on this PostgreSQL server (a schema each, dropped at the end) instead of SQLite files")
	flag.StringVar(&o.Broker, "broker", brokerNATS, "the broker: nats (an embedded NATS JetStream server), kafka (an in-process kfake cluster, or the server -kafka names) or rabbitmq (a real RabbitMQ, see -rabbitmq)")
	flag.StringVar(&o.NATS, "nats", "", "with -broker nats: the URL of a NATS server with JetStream to use instead of the embedded one; the run's streams are created there and deleted at the end")
	flag.StringVar(&o.Kafka, "kafka", "", "with -broker kafka: the address (host:port) of a Kafka-protocol server to use instead of the in-process kfake cluster; the run's topics are created there and deleted at the end")
	flag.StringVar(&o.RabbitMQ, "rabbitmq", "", "with -broker rabbitmq: the AMQP URL of the RabbitMQ to use (default "+defaultRabbitMQ+"); there is no embedded RabbitMQ, so one must be running; the run's exchange and queues are declared there and deleted at the end")
	flag.StringVar(&o.Etcd, "etcd", "", "etcd endpoints (host:port, comma-separated): the services register there (with a lease) and the processor's settings and the gateway's document are etcd keys, under a key prefix of the run's own deleted at the end; default: an in-process registry and files in the run's directory")
	flag.StringVar(&o.OTLP, "otlp", "", "also export the run's spans over OTLP/HTTP to this collector (host:port, e.g. 127.0.0.1:4318 for a Jaeger or an OpenTelemetry Collector, or a URL)")
	flag.Parse()

	dir, err := os.MkdirTemp("", "bulwark-orderflow-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "orderflow:", err)
		os.Exit(1)
	}
	o.Dir = dir
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	ledger, err := run(ctx, os.Stdout, o)
	stop()
	os.RemoveAll(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "orderflow:", err)
		os.Exit(1)
	}
	if !ledger.OK() {
		os.Exit(1)
	}
}
