package kafkadlq

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark/retry"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Decode reads back a dead letter that a Sink wrote. decode turns the
// record into the item; nil means the reverse of the Sink's default: a
// *kgo.Record item is rebuilt as it was consumed (origin topic, partition,
// offset and timestamp; key, value and its own headers), any other item is
// JSON-decoded from the value. The final error and each attempt's error
// come back as errors carrying the stored text (nil for an empty one).
//
// A record without the Bulwark-Error and Bulwark-Attempts headers is
// rejected with an error wrapping ErrNotADeadLetter.
func Decode[T any](rec *kgo.Record, decode func(*kgo.Record) (T, error)) (retry.DeadLetter[T], error) {
	var letter retry.DeadLetter[T]
	final, haveFinal := header(rec, ErrorHeader)
	hist, haveHist := header(rec, AttemptsHeader)
	if !haveFinal || !haveHist {
		return letter, fmt.Errorf("%w: no %s and %s headers", ErrNotADeadLetter, ErrorHeader, AttemptsHeader)
	}
	if err := json.Unmarshal(hist, &letter.Attempts); err != nil {
		return letter, fmt.Errorf("kafkadlq: bad %s header: %w", AttemptsHeader, err)
	}
	letter.Err = textError(string(final))
	if decode == nil {
		decode = decodeDefault[T]
	}
	item, err := decode(rec)
	if err != nil {
		return letter, fmt.Errorf("kafkadlq: decoding a dead letter's item: %w", err)
	}
	letter.Item = item
	return letter, nil
}

func decodeDefault[T any](rec *kgo.Record) (T, error) {
	var item T
	if p, ok := any(&item).(**kgo.Record); ok {
		orig, err := origin(rec)
		*p = orig
		return item, err
	}
	err := json.Unmarshal(rec.Value, &item)
	return item, err
}

// origin rebuilds the consumed record a dead letter was made of.
func origin(rec *kgo.Record) (*kgo.Record, error) {
	orig := &kgo.Record{Key: rec.Key, Value: rec.Value}
	for _, h := range rec.Headers {
		if !reserved(h.Key) {
			orig.Headers = append(orig.Headers, h)
		}
	}
	topic, _ := header(rec, OriginTopicHeader)
	orig.Topic = string(topic)
	var err error
	if v, ok := header(rec, OriginPartitionHeader); ok {
		var p int64
		p, err = strconv.ParseInt(string(v), 10, 32)
		orig.Partition = int32(p)
	}
	if v, ok := header(rec, OriginOffsetHeader); ok && err == nil {
		orig.Offset, err = strconv.ParseInt(string(v), 10, 64)
	}
	if v, ok := header(rec, OriginTimestampHeader); ok && err == nil {
		var ms int64
		ms, err = strconv.ParseInt(string(v), 10, 64)
		orig.Timestamp = time.UnixMilli(ms)
	}
	if err != nil {
		return nil, fmt.Errorf("bad origin headers: %w", err)
	}
	return orig, nil
}

// header returns the value of the first header named key.
func header(rec *kgo.Record, key string) ([]byte, bool) {
	for _, h := range rec.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

func textError(s string) error {
	if s == "" {
		return nil
	}
	return errors.New(s)
}
