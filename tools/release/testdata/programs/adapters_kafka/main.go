// release-check: build

// Command kafka publishes one outbox message to Kafka. It needs a broker:
// KAFKA_BROKERS (default localhost:9092).
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		brokers = "localhost:9092"
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	pub, err := kafkaoutbox.New(client, kafkaoutbox.Config{})
	if err != nil {
		log.Fatal(err)
	}
	err = pub.Publish(context.Background(), outbox.NewMessage("orders", "order-1", []byte(`{"id":1}`)))
	fmt.Println("published:", err)
}
