package kafkaconsume

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// FuzzDecode: Decode never fails or panics; the ID is the first non-empty
// Bulwark-Id or the record's position; the Attempt is at least 1; key,
// payload and the non-Bulwark headers (first value of each name) come
// through; no Bulwark- header does. A retry record made of the message
// decodes to the same message, one attempt later, from the same topic.
func FuzzDecode(f *testing.F) {
	f.Add("orders", int32(0), int64(7), []byte("k"), []byte("v"), "Bulwark-Id", "id-1", "Bulwark-Attempt", "3", "x", "y")
	f.Add("orders.retry", int32(2), int64(0), []byte(nil), []byte(nil), "Bulwark-Topic", "orders", "Bulwark-Created-At", "2026-01-02T03:04:05.000000006Z", "bulwark-attempt", "-1")
	f.Add("t", int32(1), int64(1), []byte{0}, []byte{0xff}, "Bulwark-Not-Before", "nonsense", "Bulwark-Id", "", "a", "b")
	f.Add("t", int32(1), int64(1), []byte("k"), []byte("v"), "a", "1", "a", "2", "Bulwark-Attempt", "99999999999999999999")
	f.Fuzz(func(t *testing.T, topic string, partition int32, offset int64, key, value []byte, k1, v1, k2, v2, k3, v3 string) {
		if topic == "" {
			topic = "t" // a consumed record has a topic
		}
		rec := &kgo.Record{Topic: topic, Partition: partition, Offset: offset, Key: key, Value: value,
			Timestamp: time.UnixMilli(1_700_000_000_000),
			Headers:   []kgo.RecordHeader{{Key: k1, Value: []byte(v1)}, {Key: k2, Value: []byte(v2)}, {Key: k3, Value: []byte(v3)}}}
		m := Decode(rec)
		wantID := positionID(rec)
		for _, h := range rec.Headers {
			if h.Key == IDHeader && len(h.Value) > 0 {
				wantID = string(h.Value)
				break
			}
		}
		assert.Equal(t, wantID, m.ID)
		assert.NotEmpty(t, m.ID)
		assert.GreaterOrEqual(t, m.Attempt, 1)
		assert.Equal(t, string(key), m.Key)
		assert.Equal(t, value, m.Payload)
		assert.Same(t, rec, m.Metadata)
		wantTopic := topic
		for _, h := range rec.Headers {
			if h.Key == TopicHeader && len(h.Value) > 0 {
				wantTopic = string(h.Value)
				break
			}
		}
		assert.Equal(t, wantTopic, m.Topic)
		wantAttempt, wantAt := 1, rec.Timestamp
		if v, ok := first(rec, AttemptHeader); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				wantAttempt = n
			}
		}
		if v, ok := first(rec, CreatedAtHeader); ok {
			if at, err := time.Parse(time.RFC3339Nano, v); err == nil {
				wantAt = at
			}
		}
		assert.Equal(t, wantAttempt, m.Attempt)
		assert.True(t, wantAt.Equal(m.PublishedAt), "published %v, want %v", m.PublishedAt, wantAt)
		want := map[string]string{}
		for _, h := range rec.Headers {
			if strings.HasPrefix(strings.ToLower(h.Key), "bulwark-") {
				continue
			}
			if _, dup := want[h.Key]; !dup {
				want[h.Key] = string(h.Value)
			}
		}
		if len(want) == 0 {
			assert.Nil(t, m.Headers)
		} else {
			assert.Equal(t, want, m.Headers)
		}

		e := &entry{rec: rec, id: m.ID, topic: m.Topic, attempt: m.Attempt, published: m.PublishedAt}
		nb := time.Unix(1_800_000_000, 5)
		rr := e.retryRecord("retry", nb)
		rr.Topic, rr.Partition, rr.Offset = "retry", 3, 9
		rm, gotNB := decode(rr)
		require.Equal(t, m.ID, rm.ID)
		assert.Equal(t, m.Topic, rm.Topic)
		assert.Equal(t, m.Key, rm.Key)
		assert.Equal(t, m.Payload, rm.Payload)
		assert.Equal(t, m.Headers, rm.Headers)
		if m.Attempt < 1<<62 {
			assert.Equal(t, m.Attempt+1, rm.Attempt)
		}
		assert.True(t, nb.Equal(gotNB), "not-before %v, got %v", nb, gotNB)
		if m.PublishedAt.Year() >= 0 && m.PublishedAt.Year() <= 9999 {
			assert.True(t, m.PublishedAt.Equal(rm.PublishedAt), "published %v, got %v", m.PublishedAt, rm.PublishedAt)
		}
	})
}

// first returns the value of the first header named key.
func first(rec *kgo.Record, key string) (string, bool) {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}
