// release-check: build

// Command rabbitmq publishes one outbox message to RabbitMQ with publisher
// confirms. It needs a broker: AMQP_URL (default
// amqp://guest:guest@localhost:5672/).
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/outbox"
)

func main() {
	url := os.Getenv("AMQP_URL")
	if url == "" {
		url = "amqp://guest:guest@localhost:5672/"
	}
	pub, err := rabbitoutbox.New(rabbitoutbox.Config{URL: url})
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
	err = pub.Publish(context.Background(), outbox.NewMessage("orders", "order-1", []byte(`{"id":1}`)))
	fmt.Println("published:", err)
}
