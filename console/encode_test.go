package console

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/bulwark-go/bulwark/policyset"
	"github.com/stretchr/testify/require"
)

// TestEncodedStateIsTheState: the state events and /api/state send, with
// the settings encoded once per document, are the JSON of the State, and
// a document the set applies later shows at once.
func TestEncodedStateIsTheState(t *testing.T) {
	parse := func(limit string) *policyset.Document {
		doc, err := policyset.Parse([]byte(`{"policies": {
			"inventory": {"retry": {"backoff": {"type": "constant", "delay": "10ms"}}, "circuit_breaker": {"open_wait": "5s"}, "bulkhead": {"max_concurrent": ` + limit + `}, "timeout": {"timeout": "500ms"}},
			"payments":  {"rate_limit": {"limit": 30, "period": "1s"}, "hedge": {"delay": "none"}}
		}}`))
		require.NoError(t, err)
		return doc
	}
	set, err := policyset.New(parse("10"), policyset.Config{})
	require.NoError(t, err)
	c, err := New(Config{Policies: set, ReadOnly: true})
	require.NoError(t, err)
	ctx := context.Background()

	same := func() map[string]any {
		t.Helper()
		got, err := c.encodeState(ctx)
		require.NoError(t, err)
		want, err := json.Marshal(c.state(ctx))
		require.NoError(t, err)
		var g, w map[string]any
		require.NoError(t, json.Unmarshal(got, &g))
		require.NoError(t, json.Unmarshal(want, &w))
		require.Equal(t, w, g)
		return g
	}
	limit := func(st map[string]any) any {
		p := st["policies"].([]any)[0].(map[string]any)
		require.Equal(t, "inventory", p["name"])
		return p["settings"].(map[string]any)["bulkhead"].(map[string]any)["max_concurrent"]
	}
	require.Equal(t, 10.0, limit(same()))
	first := c.encoded.encoded["inventory"]
	require.Equal(t, 10.0, limit(same()))
	require.Same(t, &first[0], &c.encoded.encoded["inventory"][0], "the same document is encoded once")

	require.NoError(t, set.Apply(parse("7")))
	require.Equal(t, 7.0, limit(same()))
}
