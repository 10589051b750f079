package kafkadlq

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// FuzzDecode: any record decodes to a letter or an error, never a panic;
// a decoded letter written again by a Sink decodes to the same letter, as
// a *kgo.Record item and as a JSON one.
func FuzzDecode(f *testing.F) {
	f.Add("retry: gave up", []byte(`[{"number":1,"start":"2026-01-02T03:04:05.5Z","duration":"1.5ms","error":"boom","delay":"100ms"},{"number":2,"start":"2026-01-02T03:04:06Z","duration":"2ms"}]`), []byte(`{"n":1}`), "orders", "3", "42", "1767225600123")
	f.Add("", []byte(`[]`), []byte(nil), "", "", "", "")
	f.Add("x", []byte(`null`), []byte(`"s"`), "t", "-1", "x", "2026-01-02T03:04:05Z")
	f.Add("x", []byte(`[{"number":-5,"start":"0001-01-01T00:00:00Z","duration":"-1h","delay":"0s"}]`), []byte(`[1,2]`), "t", "2147483648", "9223372036854775807", "")
	f.Fuzz(func(t *testing.T, final string, attempts, value []byte, topic, partition, offset, ts string) {
		rec := &kgo.Record{Value: value, Headers: []kgo.RecordHeader{
			{Key: ErrorHeader, Value: []byte(final)},
			{Key: AttemptsHeader, Value: attempts},
			{Key: OriginTopicHeader, Value: []byte(topic)},
			{Key: OriginPartitionHeader, Value: []byte(partition)},
			{Key: OriginOffsetHeader, Value: []byte(offset)},
			{Key: OriginTimestampHeader, Value: []byte(ts)},
			{Key: "own", Value: []byte("header")},
		}}
		if l, err := Decode[*kgo.Record](rec, nil); err == nil {
			s := &Sink[*kgo.Record]{topic: "dlq", encode: encodeDefault[*kgo.Record], clock: clock.System}
			again, err := s.record(l)
			require.NoError(t, err)
			l2, err := Decode[*kgo.Record](again, nil)
			require.NoError(t, err)
			sameLetter(t, l, l2)
			assert.Equal(t, l.Item.Topic, l2.Item.Topic)
			assert.Equal(t, l.Item.Partition, l2.Item.Partition)
			assert.Equal(t, l.Item.Offset, l2.Item.Offset)
			assert.True(t, l.Item.Timestamp.Equal(l2.Item.Timestamp))
			assert.Equal(t, l.Item.Value, l2.Item.Value)
			assert.Equal(t, l.Item.Headers, l2.Item.Headers)
		}
		if l, err := Decode[json.RawMessage](rec, nil); err == nil {
			s := &Sink[json.RawMessage]{topic: "dlq", encode: encodeDefault[json.RawMessage], clock: clock.System}
			again, err := s.record(l)
			require.NoError(t, err)
			l2, err := Decode[json.RawMessage](again, nil)
			require.NoError(t, err)
			sameLetter(t, l, l2)
			assert.JSONEq(t, string(l.Item), string(l2.Item))
		}
	})
}

func sameLetter[T any](t *testing.T, a, b retry.DeadLetter[T]) {
	t.Helper()
	assert.Equal(t, text(a.Err), text(b.Err))
	require.Len(t, b.Attempts, len(a.Attempts))
	for i := range a.Attempts {
		x, y := a.Attempts[i], b.Attempts[i]
		assert.Equal(t, x.Number, y.Number)
		assert.True(t, x.Start.Equal(y.Start), "start %s became %s", x.Start, y.Start)
		assert.Equal(t, x.Duration, y.Duration)
		assert.Equal(t, x.Delay, y.Delay)
		assert.Equal(t, text(x.Err), text(y.Err))
	}
}

func text(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// The history's wire form is documented; pin it.
func TestAttemptsHeaderFormat(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 500000000, time.FixedZone("x", 3600))
	b, err := json.Marshal(toWire([]retry.Attempt{
		{Number: 1, Start: start, Duration: 1500 * time.Microsecond, Err: errFixed("boom"), Delay: 100 * time.Millisecond},
		{Number: 2, Start: start.Add(time.Second), Duration: 2 * time.Millisecond},
	}))
	require.NoError(t, err)
	assert.JSONEq(t, `[{"number":1,"start":"2026-01-02T03:04:05.5+01:00","duration":"1.5ms","error":"boom","delay":"100ms"},
		{"number":2,"start":"2026-01-02T03:04:06.5+01:00","duration":"2ms"}]`, string(b))
}

type errFixed string

func (e errFixed) Error() string { return string(e) }
