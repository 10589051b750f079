package confirm

import (
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
)

func TestCheckShortStrings(t *testing.T) {
	ok, long := strings.Repeat("s", 255), strings.Repeat("s", 256)
	assert.NoError(t, check(ok, ok, amqp.Publishing{MessageId: ok, Headers: amqp.Table{ok: "v", "t": amqp.Table{ok: 1}}}, 0, 0))
	for name, c := range map[string]struct {
		exchange, key string
		msg           amqp.Publishing
	}{
		"exchange":          {exchange: long},
		"routing key":       {key: long},
		"message-id":        {msg: amqp.Publishing{MessageId: long}},
		"content-type":      {msg: amqp.Publishing{ContentType: long}},
		"header name":       {msg: amqp.Publishing{Headers: amqp.Table{long: "v"}}},
		"nested table name": {msg: amqp.Publishing{Headers: amqp.Table{"t": []any{amqp.Table{long: "v"}}}}},
	} {
		err := check(c.exchange, c.key, c.msg, 0, 0)
		assert.True(t, errors.Is(err, ErrInvalid), "%s: %v", name, err)
		assert.ErrorContains(t, err, "over AMQP's 255", name)
	}
}

func TestCheckTypesAndBody(t *testing.T) {
	err := check("", "k", amqp.Publishing{Headers: amqp.Table{"ch": make(chan int)}}, 0, 0)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, `the header "ch" holds a chan int`)
	assert.NoError(t, check("", "k", amqp.Publishing{Body: make([]byte, 10)}, 0, 10))
	err = check("", "k", amqp.Publishing{Body: make([]byte, 11)}, 0, 10)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, "body (payload) of 11 bytes")
}

// TestCheckFrameSize: the content header frame is measured as amqp091
// writes it: 22 bytes of frame and fixed fields, then each property.
func TestCheckFrameSize(t *testing.T) {
	msg := amqp.Publishing{
		DeliveryMode: amqp.Persistent, // 1
		MessageId:    "id",            // 1+2
		Timestamp:    time.Unix(1, 0), // 8
		Headers: amqp.Table{ // 4 +
			"s": "abc",                     // 1+1 + 5+3
			"i": int32(1),                  // 1+1 + 5
			"l": int64(1),                  // 1+1 + 9
			"b": true,                      // 1+1 + 2
			"x": []byte{1, 2},              // 1+1 + 5+2
			"a": []any{"z", int16(2)},      // 1+1 + 5 + (5+1) + 3
			"t": amqp.Table{"n": nil},      // 1+1 + 1 + 4 + (1+1+1)
			"d": amqp.Decimal{Scale: 1},    // 1+1 + 6
			"f": 1.5,                       // 1+1 + 9
			"m": time.Unix(2, 0),           // 1+1 + 9
			"u": uint16(1), "w": uint32(1), // 1+1+3, 1+1+5
		},
	}
	want := 22 + 1 + 3 + 8 + 4 + 10 + 7 + 11 + 4 + 9 + 16 + 10 + 8 + 11 + 11 + 5 + 7
	assert.NoError(t, check("", "k", msg, want, 0))
	err := check("", "k", msg, want-1, 0)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, "frame_max")
}
