package compose_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bulwark-go/bulwark/gateway/compose"
)

// FuzzPathTemplate: any path template is either refused by New or renders
// a request without panicking.
func FuzzPathTemplate(f *testing.F) {
	for _, s := range []string{"/a/{id}", "/{a.x.y}?q={id}", "/{", "/}", "/{a.}", "/{}", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		dead := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, http.ErrHandlerTimeout })
		h, err := compose.New(map[string]http.RoundTripper{"u": dead}, compose.Config{Parts: []compose.Part{
			{Key: "a", Upstream: "u", Path: "/a", OnError: compose.Omit},
			{Key: "b", Upstream: "u", Path: path, OnError: compose.Omit},
		}})
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
