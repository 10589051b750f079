package rabbitoutbox_test

import (
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/stretchr/testify/assert"
)

// FuzzNew: New either refuses a Config with an error that names the
// package, or makes a Publisher; it never panics and dials nothing.
func FuzzNew(f *testing.F) {
	for _, seed := range []struct {
		url, exchange string
		size          int
	}{
		{"", "", 0}, {"amqp://guest:guest@127.0.0.1:5672/", "", 0}, {"amqp://h/", "ex", 1}, {"amqps://h:1/v", "", 512 << 20},
		{"amqp://h/", "", -1}, {"amqp://h/", "", 512<<20 + 1}, {"http://h/", "", 0}, {"amqp://h/", strings.Repeat("x", 256), 0},
		{"amqp://[::1", "", 0}, {"amqp://h:99999/", "", 0},
	} {
		f.Add(seed.url, seed.exchange, seed.size)
	}
	f.Fuzz(func(t *testing.T, url, exchange string, size int) {
		p, err := rabbitoutbox.New(rabbitoutbox.Config{URL: url, Exchange: exchange, MaxMessageSize: size})
		if err != nil {
			assert.True(t, strings.HasPrefix(err.Error(), "rabbitoutbox: "), err.Error())
			return
		}
		assert.NotNil(t, p)
		assert.True(t, size >= 0 && size <= 512<<20, "accepted MaxMessageSize %d", size)
		assert.LessOrEqual(t, len(exchange), 255, "accepted a long Exchange")
	})
}
