package bulwarkhttp

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResponseEncodingRoundTrips(t *testing.T) {
	h := http.Header{"Set-Cookie": {"a=1", "b=2"}, "X-Empty": {""}, "Content-Type": {"application/json"}, "X-None": {}}
	data := encodeResponse(nil, 402, h, []byte{0, 1, 0xff})
	got, err := decodeResponse(data)
	require.NoError(t, err)
	assert.Equal(t, 402, got.status)
	assert.Equal(t, h, got.header)
	assert.Equal(t, []byte{0, 1, 0xff}, got.body)
}

func TestDecodeResponseRejectsGarbage(t *testing.T) {
	for _, data := range [][]byte{nil, {'v'}, {'h'}, {'h', 0x80}, {'h', 99, 0}, {'h', 0xc8, 0x01, 1, 5, 'a'}, {'h', 0xc8, 0x01, 3, 0, 0}, {'h', 0xc8, 0x01, 1, 1, 'A', 2, 0}} {
		_, err := decodeResponse(data)
		assert.ErrorIs(t, err, errBadResponse, "%q", data)
	}
}

// FuzzDecodeResponse feeds stored-response decoding arbitrary bytes: it
// must never panic, and whatever it accepts must encode back to an equal
// response.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(encodeResponse(nil, 201, http.Header{"A": {"1", "2"}}, []byte("body")))
	f.Add(encodeResponse(nil, 500, nil, nil))
	f.Add([]byte{'h', 0xc8, 0x01, 0x02, 0x01, 'A', 0x01, 0x00})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeResponse(data)
		if err != nil {
			return
		}
		again, err := decodeResponse(encodeResponse(nil, r.status, r.header, r.body))
		require.NoError(t, err)
		assert.Equal(t, r.status, again.status)
		assert.Equal(t, string(r.body), string(again.body))
		assert.Equal(t, len(r.header), len(again.header))
	})
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"abc", "abc", true},
		{` "abc" `, "abc", true},
		{`"a\"b"`, `a"b`, true},
		{`"a\\b"`, `a\b`, true},
		{`"a\b"`, "", false},
		{`"a"b"`, "", false},
		{`""`, "", false},
		{"", "", false},
		{"tab\there", "", false},
		{"0123456789", "0123456789", true},
		{"01234567890", "", false},
	} {
		got, bad := parseKey([]string{tc.in}, 10)
		if !tc.ok {
			assert.NotEmpty(t, bad, "%q", tc.in)
			continue
		}
		require.Empty(t, bad, "%q", tc.in)
		assert.Equal(t, tc.want, got)
	}
}
