package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/console"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/stretchr/testify/require"
)

// actionPath fills an action's pattern with the targets newSystem has.
func actionPath(t *testing.T, s *system, pattern string) (path, body string) {
	t.Helper()
	path = strings.TrimPrefix(pattern, "POST ")
	kind := strings.Split(path, "/")[2]
	names := map[string]string{"policies": "dep", "outboxes": "orders", "sagas": "checkout", "projections": "reports", "components": "gateway"}
	require.Contains(t, names, kind, "an action of an unknown kind: add it to this test")
	dls, err := s.store.DeadLetters(context.Background(), outbox.DeadLetterQuery{Limit: 1})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	id := dls[0].ID.String()
	if kind == "sagas" {
		id = "order-1"
	}
	path = strings.NewReplacer("{name}", names[kind], "{id}", id, "{projection}", "totals", "{action}", "drain").Replace(path)
	require.NotContains(t, path, "{", "a wildcard this test does not fill")
	switch {
	case strings.HasSuffix(path, "/settings"):
		body = `{"bulkhead": {"max_concurrent": 5}}`
	case strings.HasSuffix(path, "/abandon"):
		body = `{"reason": "refunded by hand"}`
	case kind == "components":
		body = `{"target": "10.0.0.1:80"}`
	}
	return path, body
}

// TestEveryActionIsGuarded walks every action the console routes and sends
// it without credentials, without a CSRF token, with a forged one and
// from another site: each is refused, audited and changes nothing. The
// same request done right then succeeds, so the table reaches every
// action.
func TestEveryActionIsGuarded(t *testing.T) {
	require.NotEmpty(t, console.ActionRoutes)
	for _, pattern := range console.ActionRoutes {
		t.Run(pattern, func(t *testing.T) {
			s := newSystem(t, nil)
			path, body := actionPath(t, s, pattern)
			csrf, ck := s.session(t)
			auth := "Bearer " + token
			before := s.state(t)
			cases := []struct {
				name    string
				headers map[string]string
				cookie  *http.Cookie
				status  int
			}{
				{"no credentials", map[string]string{"X-CSRF-Token": csrf}, ck, http.StatusUnauthorized},
				{"a wrong token", map[string]string{"Authorization": "Bearer not-the-operator-token", "X-CSRF-Token": csrf}, ck, http.StatusUnauthorized},
				{"no CSRF token", map[string]string{"Authorization": auth}, ck, http.StatusForbidden},
				{"no CSRF cookie", map[string]string{"Authorization": auth, "X-CSRF-Token": csrf}, nil, http.StatusForbidden},
				{"a forged CSRF token", map[string]string{"Authorization": auth, "X-CSRF-Token": csrf[:len(csrf)-2] + "xx"}, ck, http.StatusForbidden},
				{"another site", map[string]string{"Authorization": auth, "X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}, ck, http.StatusForbidden},
				{"another origin", map[string]string{"Authorization": auth, "X-CSRF-Token": csrf, "Origin": "https://evil.example"}, ck, http.StatusForbidden},
			}
			for _, c := range cases {
				status, resp := s.do(t, path, body, c.headers, c.cookie)
				require.Equal(t, c.status, status, "%s: %s", c.name, resp)
				require.NotContains(t, resp, token)
			}
			require.Equal(t, before, s.state(t), "a refused action changed something")
			require.Equal(t, len(cases), strings.Count(s.audit.String(), `"outcome":"refused`), s.audit.String())

			status, resp := s.do(t, path, body, map[string]string{"Authorization": auth, "X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-origin"}, ck)
			require.Equal(t, http.StatusOK, status, resp)
			require.Contains(t, s.audit.String(), `"operator":"alice"`)
			require.Contains(t, s.audit.String(), `"outcome":"done"`)
		})
	}
}

// TestReadOnlyHasNoAction: in read-only mode every action is 404 even
// with valid credentials, and the page and the state are still served.
func TestReadOnlyHasNoAction(t *testing.T) {
	s := newSystem(t, func(c *console.Config) { c.ReadOnly = true })
	for _, pattern := range console.ActionRoutes {
		path, body := actionPath(t, s, pattern)
		status, _ := s.post(t, path, body)
		require.Equal(t, http.StatusNotFound, status, pattern)
	}
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, err := http.NewRequest(m, s.server.URL+"/ops/api/policies/dep/settings", nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode, m)
	}
	st := s.state(t)
	require.True(t, st.ReadOnly)
	require.Equal(t, "closed", st.Policies[0].Breaker.State)
	require.Len(t, st.Outboxes[0].Letters, 1)
	csrf, _ := s.session(t)
	require.Empty(t, csrf)
	resp, err := http.Get(s.server.URL + "/ops/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
