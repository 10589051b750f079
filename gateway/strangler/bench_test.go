package strangler_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bulwark-go/bulwark/gateway/jwtauth"
	"github.com/bulwark-go/bulwark/gateway/strangler"
)

func benchRoute(b *testing.B, cfg strangler.Config, req *http.Request) {
	rt, err := strangler.New(side("legacy"), side("new"), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = rt.Route(req)
		}
	})
}

// BenchmarkRoute measures the routing decision alone, for each sticky key
// source and with an override list to try first.
func BenchmarkRoute(b *testing.B) {
	req := httptest.NewRequest(http.MethodGet, "/orders", nil)
	req.RemoteAddr = "203.0.113.7:5555"
	req.Header.Set("X-User", "user-12345")
	req.AddCookie(&http.Cookie{Name: "uid", Value: "user-12345"})
	req = req.WithContext(jwtauth.NewContext(req.Context(), &jwtauth.Principal{Subject: "user-12345", Claims: map[string]any{"groups": []any{"staff"}}}))
	b.Run("client_ip", func(b *testing.B) { benchRoute(b, strangler.Config{Weight: 30}, req) })
	b.Run("header", func(b *testing.B) {
		benchRoute(b, strangler.Config{Weight: 30, StickyBy: strangler.ByHeader, StickyName: "X-User"}, req)
	})
	b.Run("cookie", func(b *testing.B) {
		benchRoute(b, strangler.Config{Weight: 30, StickyBy: strangler.ByCookie, StickyName: "uid"}, req)
	})
	b.Run("subject", func(b *testing.B) { benchRoute(b, strangler.Config{Weight: 30, StickyBy: strangler.BySubject}, req) })
	b.Run("subject+2_overrides", func(b *testing.B) {
		benchRoute(b, strangler.Config{Weight: 30, StickyBy: strangler.BySubject, Overrides: []strangler.Override{
			{Header: "X-Canary", To: strangler.Modern}, {Claim: "groups", Value: "beta", To: strangler.Modern},
		}}, req)
	})
}
