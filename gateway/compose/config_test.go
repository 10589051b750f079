package compose_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/gateway/compose"
)

func TestConfigErrorsNameTheField(t *testing.T) {
	ok := compose.Part{Key: "a", Upstream: "u", Path: "/a"}
	with := func(f func(*compose.Part)) []compose.Part { p := ok; f(&p); return []compose.Part{p} }
	for _, tc := range []struct {
		cfg  compose.Config
		want string
	}{
		{compose.Config{}, "Config.Parts must list 1 to 64 parts, got 0"},
		{compose.Config{Parts: []compose.Part{ok}, Deadline: -1}, "Config.Deadline must be in [1ms, 10m0s]"},
		{compose.Config{Parts: []compose.Part{ok}, MaxConcurrency: 65}, "Config.MaxConcurrency must be in [1, 64]"},
		{compose.Config{Parts: []compose.Part{ok}, MaxPartBytes: -5}, "Config.MaxPartBytes must be in [1, 67108864]"},
		{compose.Config{Parts: with(func(p *compose.Part) { p.Key = "_x" })}, "Config.Parts[0].Key must be letters"},
		{compose.Config{Parts: []compose.Part{ok, ok}}, `Config.Parts[1].Key "a" is used twice`},
		{compose.Config{Parts: with(func(p *compose.Part) { p.Upstream = "nope" })}, `Config.Parts[0].Upstream must name a transport given to New, got "nope"`},
		{compose.Config{Parts: with(func(p *compose.Part) { p.Method = "GE T" })}, "Config.Parts[0].Method must be an HTTP method token"},
		{compose.Config{Parts: with(func(p *compose.Part) { p.BaseURL = "ftp://x" })}, "Config.Parts[0].BaseURL must be http:// or https://"},
		{compose.Config{Parts: with(func(p *compose.Part) { p.Path = "a" })}, "Config.Parts[0].Path must start with '/'"},
		{compose.Config{Parts: with(func(p *compose.Part) { p.Path = "/{id" })}, "Config.Parts[0].Path has a '{' without '}'"},
		{compose.Config{Parts: with(func(p *compose.Part) { p.Path = "/{b.id}" })}, `Config.Parts[0].Path placeholder {b.id} must name another part's field`},
		{compose.Config{Parts: with(func(p *compose.Part) { p.Path = "/{a.id}" })}, `placeholder {a.id} must name another part's field, and "a" is not another part`},
		{compose.Config{Parts: with(func(p *compose.Part) { p.Path = "/{!}" })}, "placeholder {!} must be a path value name"},
		{compose.Config{Parts: with(func(p *compose.Part) { p.Headers = []string{"a b"} })}, "Config.Parts[0].Headers[0] must be a header name"},
		{compose.Config{Parts: with(func(p *compose.Part) { p.Headers = []string{"Accept", "x-forwarded-for"} })}, `Config.Parts[0].Headers[1] must not be a forwarding header (a client could set it to any address), got "x-forwarded-for"`},
		{compose.Config{Parts: with(func(p *compose.Part) { p.Headers = []string{"Forwarded"} })}, "Config.Parts[0].Headers[0] must not be a forwarding header"},
		{compose.Config{Parts: with(func(p *compose.Part) { p.Timeout = compose.Duration(time.Hour) })}, "Config.Parts[0].Timeout must be in [1ms, 10m0s]"},
		{compose.Config{Parts: with(func(p *compose.Part) { p.OnError = "retry" })}, `Config.Parts[0].OnError must be "fail", "omit" or "fallback"`},
		{compose.Config{Parts: with(func(p *compose.Part) { p.OnError = compose.UseFallback })}, `Config.Parts[0].Fallback is required with OnError "fallback"`},
		{compose.Config{Parts: with(func(p *compose.Part) { p.Fallback = json.RawMessage(`1`) })}, `Config.Parts[0].Fallback is used only with OnError "fallback"`},
		{compose.Config{Parts: with(func(p *compose.Part) { p.OnError, p.Fallback = compose.UseFallback, json.RawMessage(`{`) })}, "Config.Parts[0].Fallback must be valid JSON"},
		{compose.Config{Parts: with(func(p *compose.Part) {
			p.OnError, p.Fallback, p.Merge = compose.UseFallback, json.RawMessage(`[1]`), true
		})}, "Config.Parts[0].Fallback must be a JSON object for a Merge part"},
		{compose.Config{Parts: []compose.Part{
			{Key: "a", Upstream: "u", Path: "/{b.x}"},
			{Key: "b", Upstream: "u", Path: "/{a.x}"},
		}}, `Config.Parts[0] ("a") depends on itself through its placeholders`},
	} {
		_, err := compose.New(map[string]http.RoundTripper{"u": http.DefaultTransport}, tc.cfg)
		if assert.Error(t, err, tc.want) {
			assert.Contains(t, err.Error(), tc.want)
			assert.Regexp(t, "^compose: ", err.Error())
		}
	}
	_, err := compose.New(nil, compose.Config{Parts: []compose.Part{ok}})
	assert.ErrorContains(t, err, "compose: New needs at least one transport")
}

func TestDeclarativeForm(t *testing.T) {
	doc := `{"deadline": "2s", "max_concurrency": 4, "parts": [
		{"key": "order", "upstream": "orders", "path": "/orders/{id}", "timeout": "300ms"},
		{"key": "customer", "upstream": "customers", "path": "/customers/{order.customer_id}",
		 "on_error": "fallback", "fallback": {"name":null}, "headers": ["Authorization"]}
	]}`
	var cfg compose.Config
	require.NoError(t, json.Unmarshal([]byte(doc), &cfg))
	h, err := compose.New(map[string]http.RoundTripper{"orders": http.DefaultTransport, "customers": http.DefaultTransport}, cfg)
	require.NoError(t, err)
	got := h.Settings()
	assert.Equal(t, compose.Duration(2*time.Second), got.Deadline)
	assert.Equal(t, 4, got.MaxConcurrency)
	assert.Equal(t, int64(compose.DefaultMaxPartBytes), got.MaxPartBytes)
	assert.Equal(t, compose.Duration(300*time.Millisecond), got.Parts[0].Timeout)
	assert.JSONEq(t, `{"name": null}`, string(got.Parts[1].Fallback))

	out, err := json.Marshal(got)
	require.NoError(t, err)
	var again compose.Config
	require.NoError(t, json.Unmarshal(out, &again))
	assert.Equal(t, got.Parts, again.Parts)

	assert.ErrorContains(t, json.Unmarshal([]byte(`{"deadline": 2}`), &cfg), `a duration must be a string such as "2s", got 2`)
	assert.ErrorContains(t, json.Unmarshal([]byte(`{"deadline": "2 s"}`), &cfg), `got "2 s"`)

	def := compose.DefaultConfig()
	assert.Equal(t, compose.Duration(compose.DefaultDeadline), def.Deadline)
	assert.Equal(t, compose.DefaultMaxConcurrency, def.MaxConcurrency)
}

func TestZeroHandlerPanics(t *testing.T) {
	assert.PanicsWithValue(t, "compose: Handler used without New", func() { (&compose.Handler{}).Settings() })
}

func TestAnsweredEvent(t *testing.T) {
	s := server(t, jsonAnswer(`{}`))
	ev := &events{}
	h, err := compose.New(map[string]http.RoundTripper{"u": transport(t)}, compose.Config{Name: "v", Observer: ev, Parts: []compose.Part{
		{Key: "a", Upstream: "u", BaseURL: s.URL, Path: "/"},
		{Key: "b", Upstream: "u", BaseURL: s.URL, Path: "/{a.x}", OnError: compose.Omit},
	}})
	require.NoError(t, err)
	serve(h, "GET /", "/", nil)
	all := ev.list()
	require.Len(t, all, 3)
	last, ok := all[2].(compose.Answered)
	require.True(t, ok, "Answered comes last")
	assert.Equal(t, compose.Answered{Name: "v", Status: 200, Partial: []string{"b"}, Elapsed: last.Elapsed}, last)
	assert.Equal(t, "compose.answered", last.Kind())
	for _, e := range all[:2] {
		d := e.(compose.PartDone)
		assert.Equal(t, "compose.part_done", d.Kind())
		if d.Part == "b" {
			assert.ErrorContains(t, d.Err, `field "x" of part "a": missing`)
			assert.Zero(t, d.Elapsed, "never started")
		}
		assert.NotEmpty(t, d.LogValue().Group())
	}
}

func TestEventsTimedOnTheConfigClock(t *testing.T) {
	fake := clocktest.New(time.Unix(0, 0))
	slowOnTheClock := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		fake.Advance(7 * time.Millisecond)
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`1`)), Header: http.Header{}, Request: r}, nil
	})
	ev := &events{}
	h, err := compose.New(map[string]http.RoundTripper{"u": slowOnTheClock}, compose.Config{Clock: fake, Observer: ev, Parts: []compose.Part{
		{Key: "a", Upstream: "u", Path: "/"},
	}})
	require.NoError(t, err)
	rec := serve(h, "GET /", "/", nil)
	assert.Equal(t, `{"a":1}`+"\n", rec.Body.String())
	all := ev.list()
	require.Len(t, all, 2)
	assert.Equal(t, compose.PartDone{Part: "a", Status: 200, Elapsed: 7 * time.Millisecond, Outcome: "ok"}, all[0])
	assert.Equal(t, compose.Answered{Status: 200, Elapsed: 7 * time.Millisecond}, all[1])
}
