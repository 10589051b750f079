package rabbitconsume

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/consume"
	amqp "github.com/rabbitmq/amqp091-go"
)

// AttemptHeader carries a redelivered message's attempt number (an
// int64): Redeliver sets it on the copy it publishes.
const AttemptHeader = "bulwark-attempt"

// BodyIDPrefix starts the ID of a message without a message-id: the
// SHA-256 of its body, in hex, follows.
const BodyIDPrefix = "sha256:"

// decode turns a delivery from queue into a consume.Message; it accepts
// every delivery.
func decode(d amqp.Delivery, queue string) consume.Message {
	m := consume.Message{ID: d.MessageId, Topic: d.RoutingKey, Payload: d.Body, Attempt: 1, PublishedAt: d.Timestamp, Metadata: d}
	if m.ID == "" {
		sum := sha256.Sum256(d.Body)
		m.ID = BodyIDPrefix + hex.EncodeToString(sum[:])
	}
	for k, v := range d.Headers {
		switch k {
		case rabbitoutbox.KeyHeader:
			m.Key, _ = v.(string)
		case rabbitoutbox.TopicHeader:
			if s, ok := v.(string); ok {
				m.Topic = s
			}
		case rabbitoutbox.CreatedAtHeader:
			if s, ok := v.(string); ok {
				if at, err := time.Parse(time.RFC3339Nano, s); err == nil {
					m.PublishedAt = at
				}
			}
		case AttemptHeader:
			if n, ok := integer(v); ok && n > int64(m.Attempt) {
				m.Attempt = int(min(n, math.MaxInt32))
			}
		case "x-death":
			if n := rejections(v, queue); n > 0 && n < math.MaxInt32 && int(n)+1 > m.Attempt {
				m.Attempt = int(n) + 1
			}
		default:
			if reserved(k) || deathHeader(k) {
				continue
			}
			if s, ok := text(v); ok {
				if m.Headers == nil {
					m.Headers = make(map[string]string, len(d.Headers))
				}
				m.Headers[k] = s
			}
		}
	}
	return m
}

// reserved reports whether a header name is bulwark's (bulwark-…, in any
// case).
func reserved(name string) bool {
	const prefix = "bulwark-"
	return len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix)
}

// deathHeader reports whether name is one of the headers the broker adds
// when it dead-letters a message.
func deathHeader(name string) bool {
	return name == "x-death" || strings.HasPrefix(name, "x-first-death-") || strings.HasPrefix(name, "x-last-death-")
}

// rejections returns the count of the x-death entry of queue with reason
// "rejected": how often the message was rejected from the queue and came
// back through a dead-letter loop of the user's own.
func rejections(v any, queue string) int64 {
	deaths, _ := v.([]any)
	var n int64
	for _, e := range deaths {
		t, ok := e.(amqp.Table)
		if !ok || t["queue"] != queue || t["reason"] != "rejected" {
			continue
		}
		if c, ok := integer(t["count"]); ok && c > n {
			n = c
		}
	}
	return n
}

func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case int16:
		return int64(n), true
	case int8:
		return int64(n), true
	case int:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint16:
		return int64(n), true
	case byte:
		return int64(n), true
	}
	return 0, false
}

// text returns a header value of one of AMQP's scalar types as text.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case time.Time:
		return x.UTC().Format(time.RFC3339), true
	}
	if n, ok := integer(v); ok {
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}
