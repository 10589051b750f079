// Package tests holds bulwark's tests that no single module owns:
//
//   - natsfault: a fault test that combines two engines, a relay from
//     PostgreSQL to NATS JetStream killed mid-flight;
//   - grpcotel: bulwarkgrpc's client interceptor under otelgrpc's stats
//     handler and otelbulwark, whose spans and events must line up;
//   - grpcredis: bulwarkgrpc's server rate limiter over ratelimit.Keyed
//     with redisratelimit's store, one limit per client shared by two
//     servers;
//   - consumefault: the consumer runtime's fault test on NATS JetStream
//     (embedded and BULWARK_NATS_URL's), Kafka (kfake) and RabbitMQ:
//     50,000 messages over 500 keys, the consuming process SIGKILLed ten
//     times, handlers writing to PostgreSQL through pgidempotency's inbox;
//     every effect once, each key's effects in order, dead letters exactly
//     the poison messages, nothing left unacknowledged;
//   - consolebrowser: the operations console in Debian's Chromium
//     (BULWARK_CHROMIUM), driven by chromedp: a breaker seen turning open,
//     a dead letter replayed with a click and the outbox seen draining;
//   - suites: one package per conformance suite (outbox, idempotency,
//     saga, eventsource, cqrs, retry, ratelimit, consume, discovery,
//     configsource), each the outside driver for that suite. It holds a
//     small driver written as a driver's author outside bulwark would
//     write it, with bulwark's exported packages
//     only (no internal package of bulwark or of its adapters), runs every
//     exported suite of the package on it (the killed-process suites
//     included, whose children are the package's own test binary), and
//     runs the suites again, in child processes, on the same driver with
//     deliberate flaws, checking that the subtests guarding each broken
//     promise fail by name (suites/internal/flaws).
//
// It is a module of its own so that its dependencies (every engine at
// once) reach no user's module graph, and it is never released.
package tests
