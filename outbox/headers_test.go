package outbox_test

import (
	"encoding/json"
	"testing"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHeadersRoundTripEveryByte: values JSON cannot hold as strings
// (invalid UTF-8, NUL bytes) come back byte for byte, and the encoding is
// JSON that PostgreSQL's jsonb accepts (no \u0000, valid UTF-8).
func TestHeadersRoundTripEveryByte(t *testing.T) {
	h := map[string]string{
		"plain":     "abc",
		"empty":     "",
		"invalid":   "\xff\xfe",
		"nul":       "a\x00b",
		"binary":    string([]byte{0, 1, 2, 0x80, 0xff}),
		"unicode":   "héllo ✓ <&>",
		"spaces":    "  padded \r\n",
		"quote\"\\": `"\`,
	}
	enc, err := outbox.EncodeHeaders(h)
	require.NoError(t, err)
	assert.True(t, json.Valid(enc))
	assert.NotContains(t, string(enc), `\u0000`)
	got, err := outbox.DecodeHeaders(enc)
	require.NoError(t, err)
	assert.Equal(t, h, got)

	for _, none := range []map[string]string{nil, {}} {
		enc, err := outbox.EncodeHeaders(none)
		require.NoError(t, err)
		assert.Nil(t, enc)
	}
	got, err = outbox.DecodeHeaders(nil)
	require.NoError(t, err)
	assert.Nil(t, got)
}

// TestDecodeHeadersReadsPlainJSON: headers stored as a plain JSON object of
// strings (by earlier versions, or an application's own SQL) still decode.
func TestDecodeHeadersReadsPlainJSON(t *testing.T) {
	got, err := outbox.DecodeHeaders([]byte(`{"trace-id": "abc", "e": "\u00e9"}`))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"trace-id": "abc", "e": "é"}, got)
}

func TestEncodeHeadersRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "a\x00b", "\xff"} {
		_, err := outbox.EncodeHeaders(map[string]string{name: "v"})
		assert.ErrorIs(t, err, outbox.ErrInvalidMessage, "%q", name)
	}
}

// FuzzDecodeHeaders: whatever is stored, decoding returns headers or an
// error, never panics; and headers decoded, encoded again, decode the same.
func FuzzDecodeHeaders(f *testing.F) {
	for _, seed := range []string{`{"a":"b"}`, `{}`, `null`, `[1,2]`, `{"a":1}`, `{"\u00e9":"\n"}`, ``, `{"a":"b"`,
		`{"a":{"base64":"AAE="}}`, `{"a":{"base64":"!"}}`, `{"a":{"base64":"AA==","x":1}}`, `{"":"x"}`, `{"a\u0000":"x"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, stored []byte) {
		h, err := outbox.DecodeHeaders(stored)
		if err != nil {
			return
		}
		enc, err := outbox.EncodeHeaders(h)
		if err != nil {
			assert.ErrorIs(t, err, outbox.ErrInvalidMessage, "only a bad name fails to encode")
			return
		}
		again, err := outbox.DecodeHeaders(enc)
		require.NoError(t, err)
		assert.Equal(t, h, again)
	})
}

// FuzzHeadersRoundTrip: any value under any valid name comes back exactly.
func FuzzHeadersRoundTrip(f *testing.F) {
	f.Add("n", []byte("v"))
	f.Add("trace", []byte{0, 0xff, '"'})
	f.Fuzz(func(t *testing.T, name string, value []byte) {
		h := map[string]string{name: string(value)}
		enc, err := outbox.EncodeHeaders(h)
		if (outbox.Message{Topic: "t", Headers: h}).Validate() != nil {
			assert.ErrorIs(t, err, outbox.ErrInvalidMessage)
			return
		}
		require.NoError(t, err)
		got, err := outbox.DecodeHeaders(enc)
		require.NoError(t, err)
		assert.Equal(t, h, got)
	})
}
