package main

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

// TestOrderFlowKeepsItsPromises runs the whole flow, shortened (24 orders,
// phases of 1.5s): on SQLite and embedded NATS (the default run); on
// PostgreSQL where BULWARK_POSTGRES_DSN is set; on the NATS server
// BULWARK_NATS_URL names (-nats), whose streams the run must delete; on an
// in-process Kafka
// (kfake) with -broker kafka; and on RabbitMQ with -broker rabbitmq where
// BULWARK_RABBITMQ_URL is set. It asserts the ledger's checks, which hold
// the same promises on every broker, and that the faults the story is
// about did happen: duplicates answered from the idempotency record,
// declined cards compensated, the inventory's breaker opened, every bad
// request refused at the gateway, the partner's bursts limited there, order
// details partial while the inventory was down, and history requests
// moved to the orders service.
func TestOrderFlowKeepsItsPromises(t *testing.T) {
	for _, variant := range []string{"sqlite", "postgres", "nats-server", "kafka", "rabbitmq", "etcd"} {
		t.Run(variant, func(t *testing.T) {
			o := Options{Orders: 24, Seed: 42, Phase: 1500 * time.Millisecond, Dir: t.TempDir()}
			switch variant {
			case "postgres":
				o.Postgres = testenv.PostgresDSN(t)
			case "nats-server":
				o.NATS = testenv.NATSURL(t)
			case "kafka":
				o.Broker = brokerKafka
			case "rabbitmq":
				o.Broker, o.RabbitMQ = brokerRabbitMQ, testenv.RabbitMQURL(t)
			case "etcd":
				o.Etcd = strings.Join(testenv.EtcdEndpoints(t), ",")
			}
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var out strings.Builder
			ledger, err := run(ctx, &out, o)
			t.Log("\n" + out.String())
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range ledger.Checks {
				if !c.OK {
					t.Errorf("promise broken: %s: %s", c.Promise, c.Detail)
				}
			}
			if len(ledger.Checks) != 13 || !ledger.OK() {
				t.Errorf("ledger has %d checks, OK %v", len(ledger.Checks), ledger.OK())
			}
			if ledger.Orders != o.Orders || ledger.Completed+ledger.Compensated != o.Orders {
				t.Errorf("%d orders, %d completed, %d compensated; want %d orders, all ended", ledger.Orders, ledger.Completed, ledger.Compensated, o.Orders)
			}
			// A declined card can only end in compensation.
			if ledger.Declined == 0 || ledger.Compensated < ledger.Declined {
				t.Errorf("%d declined cards, %d compensated sagas", ledger.Declined, ledger.Compensated)
			}
			// Every send after the first of its key was answered from the
			// idempotency record (or was answered first, and the other
			// send was).
			if ledger.Duplicates == 0 || ledger.Replayed < ledger.Duplicates {
				t.Errorf("%d duplicate sends, %d answers replayed", ledger.Duplicates, ledger.Replayed)
			}
			if ledger.BreakerOpen == 0 {
				t.Error("the inventory outage never opened the inventory breaker")
			}
			// The edge: every bad request refused, the partner's bursts
			// limited, the shipping part falling back while the inventory
			// was down, and the history moved to the orders service.
			if ledger.Probes != 8 || ledger.Refused != ledger.Probes {
				t.Errorf("%d bad requests, %d refused; want 8, all refused", ledger.Probes, ledger.Refused)
			}
			if ledger.PartnerLimited == 0 {
				t.Error("the partner's bursts never got a 429 from the gateway")
			}
			if ledger.ShippingPartial == 0 || ledger.CompleteDetails == 0 {
				t.Errorf("%d complete order details, %d without shipping; want some of each", ledger.CompleteDetails, ledger.ShippingPartial)
			}
			if ledger.MovedHistory == 0 {
				t.Error("no history request reached the orders service")
			}
			if variant == "nats-server" {
				checkStreamsDeleted(t, o.NATS, out.String())
			}
			if variant == "etcd" {
				checkEtcdKeysDeleted(t, o.Etcd, out.String())
			}
			// The operator's live change: the mistake refused, the
			// correction applied (the ledger's check holds the rest).
			for _, want := range []string{
				"level=ERROR msg=\"policyset: document refused; the settings stay as they were\"",
				"settings: the processor refused version",
				"settings: the processor applied version",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the story does not tell %q", want)
				}
			}
			t.Logf("%d orders: %d completed, %d compensated (%d declined); %d duplicate sends, %d replays; inventory breaker opened %d times; %d bad requests refused, %d partner 429s, %d complete and %d partial details",
				ledger.Orders, ledger.Completed, ledger.Compensated, ledger.Declined, ledger.Duplicates, ledger.Replayed, ledger.BreakerOpen,
				ledger.Refused, ledger.PartnerLimited, ledger.CompleteDetails, ledger.PartialDetails)
		})
	}
}

func TestOptionsAreValidated(t *testing.T) {
	good := Options{Orders: 4, Phase: time.Second, Dir: t.TempDir()}
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"too few orders", func(o *Options) { o.Orders = 3 }, "-orders must be at least 4, got 3"},
		{"short phases", func(o *Options) { o.Phase = 999 * time.Millisecond }, "-phase must be at least 1s, got 999ms"},
		{"no directory", func(o *Options) { o.Dir = "" }, "Options.Dir must name a directory"},
		{"unknown broker", func(o *Options) { o.Broker = "kinesis" }, `-broker must be nats, kafka or rabbitmq, got "kinesis"`},
		{"-nats without nats", func(o *Options) { o.Broker, o.NATS = brokerKafka, "nats://127.0.0.1:4222" }, "-nats needs -broker nats"},
		{"-kafka without kafka", func(o *Options) { o.Kafka = "127.0.0.1:9092" }, "-kafka needs -broker kafka"},
		{"-rabbitmq without rabbitmq", func(o *Options) { o.Broker, o.RabbitMQ = brokerKafka, defaultRabbitMQ }, "-rabbitmq needs -broker rabbitmq"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.change(&o)
			_, err := run(context.Background(), &strings.Builder{}, o)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRabbitMQUnreachableIsAClearError: -broker rabbitmq with no RabbitMQ
// at the URL fails at once, saying there is no embedded one.
func TestRabbitMQUnreachableIsAClearError(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	o := Options{Orders: 4, Phase: time.Second, Dir: t.TempDir(), Broker: brokerRabbitMQ, RabbitMQ: "amqp://guest:secret@127.0.0.1:1/"}
	_, err := run(context.Background(), &strings.Builder{}, o)
	if err == nil || !strings.Contains(err.Error(), "cannot reach RabbitMQ at amqp://guest:xxxxx@127.0.0.1:1/") ||
		!strings.Contains(err.Error(), "there is no embedded one") {
		t.Errorf("got %v, want an error naming the URL (without its password) and saying there is no embedded RabbitMQ", err)
	}
}

// TestKafkaServerUnreachableIsAnError: -kafka naming no server fails,
// naming the address.
func TestKafkaServerUnreachableIsAnError(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	o := Options{Orders: 4, Phase: time.Second, Dir: t.TempDir(), Broker: brokerKafka, Kafka: "127.0.0.1:1"}
	_, err := run(context.Background(), &strings.Builder{}, o)
	if err == nil || !strings.Contains(err.Error(), "the Kafka server at [127.0.0.1:1]") {
		t.Errorf("got %v, want an error naming the Kafka server's address", err)
	}
}

// checkEtcdKeysDeleted checks that no key is left under the prefix the
// story names in the etcd at endpoints.
func checkEtcdKeysDeleted(t *testing.T, endpoints, story string) {
	t.Helper()
	m := regexp.MustCompile(`keys under (\S+)/ \(deleted at the end\)`).FindStringSubmatch(story)
	if m == nil {
		t.Fatal("the story names no etcd prefix")
	}
	e, err := connectEtcd(context.Background(), endpoints)
	if err != nil {
		t.Fatal(err)
	}
	defer e.client.Close()
	resp, err := e.client.Get(context.Background(), m[1]+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 0 {
		t.Errorf("%d keys left under %s/, want none", resp.Count, m[1])
	}
}

// checkStreamsDeleted checks that the streams the story names are gone
// from the NATS server at url.
func checkStreamsDeleted(t *testing.T, url, story string) {
	t.Helper()
	m := regexp.MustCompile(`streams (\S+) and (\S+) \(deleted at the end\)`).FindStringSubmatch(story)
	if m == nil {
		t.Fatal("the story names no streams")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range m[1:] {
		if _, err := js.Stream(context.Background(), name); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("stream %s: %v, want it deleted", name, err)
		}
	}
}
