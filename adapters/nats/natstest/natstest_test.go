package natstest_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/adapters/nats/natstest"
	"github.com/stretchr/testify/assert"
)

// TestZeroBrokerPanicsClearly: a Broker not made by NewBroker panics with a
// message that says so, instead of dereferencing a nil server.
func TestZeroBrokerPanicsClearly(t *testing.T) {
	const want = "natstest: Broker used without NewBroker"
	assert.PanicsWithValue(t, want, func() { new(natstest.Broker).Restart(0) })
	assert.PanicsWithValue(t, want, func() { (*natstest.Broker)(nil).Restart(0) }, "nil")
}
