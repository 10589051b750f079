package strangler_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark/gateway/strangler"
)

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg  strangler.Config
		want string
	}{
		{strangler.Config{Mode: "x"}, `Config.Mode must be "split" or "shadow", got "x"`},
		{strangler.Config{Weight: -1}, "Config.Weight must be in [0, 100], got -1"},
		{strangler.Config{StickyBy: "ip"}, `Config.StickyBy must be "client_ip", "header", "cookie" or "subject", got "ip"`},
		{strangler.Config{StickyBy: strangler.ByHeader}, `Config.StickyName must name the header or cookie with StickyBy "header", got ""`},
		{strangler.Config{StickyName: "X"}, `Config.StickyName is used only with StickyBy "header" or "cookie", got "X"`},
		{strangler.Config{Overrides: []strangler.Override{{To: strangler.Modern}}}, "Config.Overrides[0] must set exactly one of Header and Claim"},
		{strangler.Config{Overrides: []strangler.Override{{Header: "a", Claim: "b", To: strangler.Modern}}}, "Config.Overrides[0] must set exactly one of Header and Claim"},
		{strangler.Config{Overrides: []strangler.Override{{Header: "a b", To: strangler.Modern}}}, `Config.Overrides[0].Header must be a header name, got "a b"`},
		{strangler.Config{Overrides: []strangler.Override{{Claim: "c", To: "both"}}}, `Config.Overrides[0].To must be "legacy" or "new", got "both"`},
		{strangler.Config{Overrides: make([]strangler.Override, 65)}, "Config.Overrides must list at most 64 overrides, got 65"},
		{strangler.Config{Shadow: strangler.ShadowConfig{MaxInFlight: -1}}, "Config.Shadow.MaxInFlight must be in [1, 4096] (0 means 16), got -1"},
		{strangler.Config{Shadow: strangler.ShadowConfig{Timeout: strangler.Duration(time.Hour)}}, "Config.Shadow.Timeout must be in [1ms, 10m] (0 means 5s), got 1h0m0s"},
		{strangler.Config{Shadow: strangler.ShadowConfig{MaxBodyBytes: 1 << 40}}, "Config.Shadow.MaxBodyBytes must be in [1, 67108864]"},
		{strangler.Config{Shadow: strangler.ShadowConfig{IgnoreFields: []string{"a..b"}}}, `Config.Shadow.IgnoreFields[0] must be a dotted path of field names, got "a..b"`},
	} {
		_, err := strangler.New(side("legacy"), side("new"), tc.cfg)
		if assert.Error(t, err, tc.want) {
			assert.Contains(t, err.Error(), "strangler: "+tc.want)
		}
	}
	_, err := strangler.New(nil, side("new"), strangler.Config{})
	assert.ErrorContains(t, err, "strangler: New needs a legacy handler")
	_, err = strangler.New(side("legacy"), nil, strangler.Config{})
	assert.ErrorContains(t, err, "strangler: New needs a new-side handler")
}

func TestDeclarativeForm(t *testing.T) {
	doc := `{"mode":"shadow","weight":25,"sticky_by":"header","sticky_name":"x-user",
		"overrides":[{"claim":"groups","value":"beta","to":"new"}],
		"shadow":{"max_in_flight":4,"timeout":"300ms","ignore_fields":["meta.request_id"]}}`
	var cfg strangler.Config
	require.NoError(t, json.Unmarshal([]byte(doc), &cfg))
	rt := newRouter(t, cfg)
	got := rt.Settings()
	assert.Equal(t, strangler.Shadow, got.Mode)
	assert.Equal(t, 25, got.Weight)
	assert.Equal(t, "X-User", got.StickyName)
	assert.Equal(t, strangler.Duration(300*time.Millisecond), got.Shadow.Timeout)
	assert.Equal(t, int64(strangler.DefaultShadowMaxBodyBytes), got.Shadow.MaxBodyBytes)
	out, err := json.Marshal(got)
	require.NoError(t, err)
	var again strangler.Config
	require.NoError(t, json.Unmarshal(out, &again))
	assert.Equal(t, got, again)

	got.Overrides[0].To = strangler.Legacy
	assert.Equal(t, strangler.Modern, rt.Settings().Overrides[0].To, "the returned Config is a copy")

	assert.ErrorContains(t, json.Unmarshal([]byte(`{"shadow":{"timeout":5}}`), &cfg), `a duration must be a string such as "2s", got 5`)
	def := strangler.DefaultConfig()
	assert.Equal(t, strangler.Split, def.Mode)
	assert.Equal(t, strangler.ByClientIP, def.StickyBy)
	zero := newRouter(t, strangler.Config{}).Settings()
	assert.Equal(t, def, zero, "the zero Config means DefaultConfig")
}

func TestFromTransport(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("v2 " + r.URL.RequestURI()))
	}))
	defer backend.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	modern, err := strangler.FromTransport(tr, backend.URL)
	require.NoError(t, err)
	rt := newRouter(t, strangler.Config{Weight: 100})
	rt2, err := strangler.New(side("legacy"), modern, rt.Settings())
	require.NoError(t, err)
	assert.Equal(t, "v2 /orders?id=1", get(rt2, "/orders?id=1").Body.String())

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	dead, err := strangler.FromTransport(tr, down.URL)
	require.NoError(t, err)
	rec := get(dead, "/")
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))

	_, err = strangler.FromTransport(tr, "http://host/path")
	assert.ErrorContains(t, err, `strangler: FromTransport's target must be http:// or https:// and a host, with no path or query, got "http://host/path"`)
	_, err = strangler.FromTransport(nil, backend.URL)
	assert.ErrorContains(t, err, "strangler: FromTransport needs a transport")
}
