package rabbitdlq_test

import (
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitdlq"
	"github.com/stretchr/testify/assert"
)

// FuzzNew: New either refuses a Config with an error that names the
// package, or makes a Sink; it never panics and dials nothing.
func FuzzNew(f *testing.F) {
	for _, seed := range [][4]string{
		{"", "", "", ""}, {"amqp://guest:guest@127.0.0.1:5672/", "", "dlq", ""}, {"amqp://h/", "ex", "k", "text/plain"},
		{"amqp://h/", "", "", ""}, {"http://h/", "", "k", ""}, {"amqp://[::1", "", "k", ""}, {"amqp://h:99999/", "", "k", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, url, exchange, key, contentType string) {
		s, err := rabbitdlq.New(rabbitdlq.Config[int]{URL: url, Exchange: exchange, RoutingKey: key, ContentType: contentType})
		if err != nil {
			assert.True(t, strings.HasPrefix(err.Error(), "rabbitdlq: "), err.Error())
			return
		}
		assert.NotNil(t, s)
		assert.LessOrEqual(t, len(key), 255, "accepted a RoutingKey longer than AMQP allows") // "" is DefaultRoutingKey
		assert.LessOrEqual(t, len(exchange), 255, "accepted an Exchange longer than AMQP allows")
	})
}
