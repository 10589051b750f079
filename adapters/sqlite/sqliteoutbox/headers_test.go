package sqliteoutbox

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzDecodeHeaders: whatever is stored in the headers column, decoding
// returns headers or an error, never panics; and what encodeHeaders wrote
// decodes to the same headers.
func FuzzDecodeHeaders(f *testing.F) {
	for _, seed := range []string{`{"a":"b"}`, `{}`, `null`, `[1,2]`, `{"a":1}`, `{"\u00e9":"\n"}`, ``, `{"a":"b"`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, stored string) {
		h, err := decodeHeaders(sql.NullString{String: stored, Valid: true})
		if err != nil {
			return
		}
		enc, err := encodeHeaders(h)
		require.NoError(t, err)
		if enc == nil {
			assert.Empty(t, h)
			return
		}
		again, err := decodeHeaders(sql.NullString{String: enc.(string), Valid: true})
		require.NoError(t, err)
		assert.Equal(t, h, again)
	})
}

func TestDecodeNullHeaders(t *testing.T) {
	h, err := decodeHeaders(sql.NullString{})
	require.NoError(t, err)
	assert.Nil(t, h)
}
