package confirm

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultURL is the broker a Config with neither URL nor Dial connects to:
// RabbitMQ's default user on a broker on this machine.
const DefaultURL = "amqp://guest:guest@localhost:5672/"

// ChooseDialer returns the Dialer of a Config's URL and Dial fields: Dial
// when set, otherwise a dialer of url, DefaultURL when url is empty. Both
// set, or a url that does not parse, is an error naming the field of the
// package's Config type ("rabbitoutbox", "Config").
func ChooseDialer(pkg, config, url string, dial func(context.Context) (*amqp.Connection, error)) (Dialer, error) {
	switch {
	case url != "" && dial != nil:
		return nil, fmt.Errorf("%s: set %s.URL or %s.Dial, not both", pkg, config, config)
	case dial != nil:
		return dial, nil
	case url == "":
		url = DefaultURL
	}
	if _, err := amqp.ParseURI(url); err != nil {
		return nil, fmt.Errorf("%s: %s.URL: %w", pkg, config, err)
	}
	return DialURL(url), nil
}
