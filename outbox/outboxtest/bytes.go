package outboxtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allBytes is every byte value once: NUL, control characters, bytes that
// are not valid UTF-8 on their own.
func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// oddHeaders are header values that text encodings alter: empty, NUL
// bytes, invalid UTF-8, surrounding and embedded white space, line breaks,
// JSON's special characters, every byte value, and a long one (16 KiB).
// Their names are plain ASCII tokens, which every broker carries.
func oddHeaders() map[string]string {
	return map[string]string{
		"empty":        "",
		"nul":          "a\x00b",
		"only-nul":     "\x00",
		"invalid-utf8": "\xff\xfe\xc3",
		"binary":       string(allBytes()),
		"spaces":       "  padded\t ",
		"crlf":         "line1\r\nline2\n",
		"json":         `{"a":"b\\"}` + "\u2028<&>",
		"unicode":      "héllo ✓ 😀",
		"long":         strings.Repeat("0123456789abcdef", 1024),
		"Mixed-Case":   "v",
	}
}

// oddMessages are messages whose every byte a store must keep: odd
// payloads (nil, empty, binary, 1 MiB), keys (unicode, white space,
// quotes, 1000 bytes), header values (oddHeaders) and header names
// (unicode, quotes, white space).
func oddMessages() []outbox.Message {
	mk := func(n int, key string, payload []byte, headers map[string]string) outbox.Message {
		return outbox.Message{ID: uuid.Must(uuid.NewV7()), Topic: "bytes.t", Key: key, Payload: payload, Headers: headers,
			CreatedAt: base.Add(time.Duration(n) * time.Microsecond)}
	}
	return []outbox.Message{
		mk(1, "k-binary", allBytes(), oddHeaders()),
		mk(2, "k-nil", nil, nil),
		mk(3, "k-empty", []byte{}, map[string]string{"only": ""}),
		mk(4, "k-invalid", []byte("\xff\xfe\x00\x00\xc3("), map[string]string{"x": "\xc3("}),
		mk(5, " héllo ✓ \t\r\n", []byte("unicode key"), nil),
		mk(6, `"quoted" \back\slash' %_`, []byte("special key"), nil),
		mk(7, strings.Repeat("k", 1000), []byte("long key"), nil),
		mk(8, "k-large", []byte(strings.Repeat("payload!", 128<<10)), nil),
		mk(9, "k-names", nil, map[string]string{"naïve-name": "v", "名前": "値", `quote"\ :name`: "x", " spaced ": "y"}),
	}
}

// assertSameBytes checks got carries every byte of want: ID, Topic, Key,
// Payload (nil and empty alike), headers (none as nil or empty alike) and
// CreatedAt to the microsecond.
func assertSameBytes(t *testing.T, want, got outbox.Message, where string) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID, where)
	assert.Equal(t, want.Topic, got.Topic, "%s: Topic of %s", where, want.Key)
	assert.Equal(t, want.Key, got.Key, "%s: Key", where)
	assert.Equal(t, len(want.Payload), len(got.Payload), "%s: Payload length of %.40q", where, want.Key)
	if len(want.Payload) > 0 {
		assert.True(t, string(want.Payload) == string(got.Payload), "%s: Payload of %.40q differs", where, want.Key)
	}
	assert.Equal(t, len(want.Headers), len(got.Headers), "%s: headers of %.40q: %q", where, want.Key, got.Headers)
	for name, v := range want.Headers {
		g, ok := got.Headers[name]
		assert.True(t, ok, "%s: header %q of %.40q is missing", where, name, want.Key)
		assert.True(t, v == g, "%s: header %q of %.40q is %.80q, want %.80q", where, name, want.Key, g, v)
	}
	assert.True(t, want.CreatedAt.Equal(got.CreatedAt), "%s: CreatedAt %s, want %s", where, got.CreatedAt, want.CreatedAt)
}

// testBytesRoundTrip: every byte of payload, key and header values comes
// back from a claim, from the dead letters, and from a claim after Replay.
func testBytesRoundTrip(t *testing.T, h Harness) {
	want := oddMessages()
	enqueue(t, h, want...)
	b := claim(t, h, req(100, base))
	got := b.Messages()
	require.Len(t, got, len(want))
	for i := range want {
		assertSameBytes(t, want[i], got[i].Message, "claimed")
	}
	o := outbox.Outcome{Now: base}
	for i := range got {
		o.Failed = append(o.Failed, outbox.Failure{Index: i, Error: "x", Dead: true})
	}
	require.NoError(t, b.Finish(context.Background(), o))

	dls, err := h.Store.DeadLetters(context.Background(), outbox.DeadLetterQuery{Limit: 100})
	require.NoError(t, err)
	require.Len(t, dls, len(want))
	ids := make([]uuid.UUID, len(dls))
	for i := range want {
		assertSameBytes(t, want[i], dls[i].Message, "dead letter")
		ids[i] = dls[i].ID
	}
	n, err := h.Store.Replay(context.Background(), ids...)
	require.NoError(t, err)
	require.Equal(t, len(want), n)
	b = claim(t, h, req(100, base))
	require.Len(t, b.Messages(), len(want))
	for i := range want {
		assertSameBytes(t, want[i], b.Messages()[i].Message, "replayed")
	}
}

// invalidMessages are messages Enqueue must refuse (see outbox.Message):
// Topic, Key and header names must be text.
func invalidMessages() map[string]outbox.Message {
	ok := func(change func(*outbox.Message)) outbox.Message {
		m := outbox.Message{Topic: "t", Key: "k", Payload: []byte("p")}
		change(&m)
		return m
	}
	return map[string]outbox.Message{
		"empty topic":              ok(func(m *outbox.Message) { m.Topic = "" }),
		"topic with NUL":           ok(func(m *outbox.Message) { m.Topic = "a\x00b" }),
		"topic not UTF-8":          ok(func(m *outbox.Message) { m.Topic = "a\xffb" }),
		"key with NUL":             ok(func(m *outbox.Message) { m.Key = "a\x00b" }),
		"key not UTF-8":            ok(func(m *outbox.Message) { m.Key = "\xc3(" }),
		"empty header name":        ok(func(m *outbox.Message) { m.Headers = map[string]string{"": "v"} }),
		"header name with NUL":     ok(func(m *outbox.Message) { m.Headers = map[string]string{"a\x00": "v"} }),
		"header name not UTF-8":    ok(func(m *outbox.Message) { m.Headers = map[string]string{"\xff": "v"} }),
		"one bad among good names": ok(func(m *outbox.Message) { m.Headers = map[string]string{"a": "1", "b\x00": "2", "c": "3"} }),
	}
}

// testEnqueueRefusesInvalidText: Enqueue refuses a message whose Topic,
// Key or header names are not text, with an error matching
// outbox.ErrInvalidMessage, and stores nothing of the call, not even the
// valid messages before the bad one.
func testEnqueueRefusesInvalidText(t *testing.T, h Harness) {
	for name, bad := range invalidMessages() {
		err := h.Enqueue(context.Background(), msg("good", 1), bad)
		assert.ErrorIs(t, err, outbox.ErrInvalidMessage, name)
		assert.ErrorContains(t, err, "message 1", "%s: the error names the message", name)
	}
	st, err := h.Store.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, outbox.Stats{}, st, "nothing was stored")
}

// testFinishCancelled: Finish with a done context records the whole
// outcome or nothing; when it fails, the messages are claimable again as
// they were (after the lease, at the latest), none half-recorded.
func testFinishCancelled(t *testing.T, h Harness) {
	enqueue(t, h, msg("a", 1), msg("b", 2), msg("c", 3))
	b := claim(t, h, req(10, base))
	require.Len(t, b.Messages(), 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.Finish(ctx, outbox.Outcome{Now: base, Published: []int{0},
		Failed: []outbox.Failure{{Index: 1, Error: "x", RetryAt: base}, {Index: 2, Error: "y", Dead: true}}})
	later := base.Add(2 * time.Minute) // past the claim's lease
	st, serr := h.Store.Stats(context.Background())
	require.NoError(t, serr)
	if err == nil {
		assert.Equal(t, 1, st.Pending, "Finish succeeded: the whole outcome is recorded")
		assert.Equal(t, 1, st.DeadLetters)
		return
	}
	assert.Equal(t, 3, st.Pending, "Finish failed (%v): nothing is recorded", err)
	assert.Zero(t, st.DeadLetters, "Finish failed (%v): nothing is recorded", err)
	again := claim(t, h, req(10, later))
	assert.Equal(t, []string{"a-1", "b-2", "c-3"}, payloads(again))
	for _, m := range again.Messages() {
		assert.Zero(t, m.Attempts, "no failure was recorded for %s", m.Payload)
	}
}
