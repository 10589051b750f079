package natsconsume

import (
	"github.com/bulwark-go/bulwark/consume"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Encode and Decode let the tests publish and read messages in
// natsconsume's format.
var Encode = encode

func Decode(meta *jetstream.MsgMetadata, subject string, h nats.Header, data []byte, keyHeader string) consume.Message {
	return decode(meta, subject, h, data, keyHeader)
}
