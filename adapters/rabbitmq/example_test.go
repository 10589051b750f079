package rabbitmq_test

import (
	"context"
	"errors"
	"log"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/outbox"
)

// The errors of a confirmed publish say what happened to the message, and
// so whether publishing it again can help.
func Example() {
	pub, err := rabbitoutbox.New(rabbitoutbox.Config{URL: "amqp://guest:guest@127.0.0.1:5672/", Exchange: "events"})
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
	err = pub.Publish(context.Background(), outbox.NewMessage("orders.created", "order-1", []byte(`{"total":42}`)))
	switch {
	case err == nil:
		// Confirmed: stored in every queue it was routed to.
	case errors.Is(err, rabbitmq.ErrInvalid):
		// Never sent: it cannot be published as it is (a header over the
		// frame size, say). Again would fail the same way.
	case errors.Is(err, rabbitmq.ErrUnroutable):
		// Returned: no queue is bound for its routing key (yet).
	case errors.Is(err, rabbitmq.ErrNacked):
		// Refused by the broker (a full queue that rejects publishes).
	case errors.Is(err, rabbitmq.ErrConnectionLost):
		// The connection died before the confirmation: it may be stored;
		// publishing again may make a duplicate.
	}
}
