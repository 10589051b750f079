package confirm

import (
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark"
)

// The errors of a confirmed publish; the rabbitmq package exports them.
var (
	ErrUnroutable     = errors.New("rabbitmq: message unroutable")
	ErrNacked         = errors.New("rabbitmq: broker nacked the message")
	ErrConnectionLost = errors.New("rabbitmq: connection lost before the broker confirmed")
	ErrClosed         = fmt.Errorf("rabbitmq: publisher closed (%w)", bulwark.ErrClosed)
	ErrInvalid        = errors.New("rabbitmq: message cannot be published as it is")
)

// UnroutableError is the error of a message the broker returned.
type UnroutableError struct {
	// Exchange and RoutingKey are where the message was published.
	Exchange, RoutingKey string
	// Code and Text are the broker's reply (312 NO_ROUTE, say).
	Code uint16
	Text string
}

func (e *UnroutableError) Error() string {
	return fmt.Sprintf("rabbitmq: broker returned the message published to exchange %q with routing key %q: %d %s (is a queue bound for it?)",
		e.Exchange, e.RoutingKey, e.Code, e.Text)
}

// Is makes errors.Is(err, ErrUnroutable) true.
func (e *UnroutableError) Is(target error) bool { return target == ErrUnroutable }
