package console_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/bulwark-go/bulwark/console"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/stretchr/testify/require"
)

// The core types satisfy the console's interfaces as they are.
var (
	_ console.Outbox      = outbox.Store(nil)
	_ console.Projections = (*cqrs.Projector[cqrs.NoTx])(nil)
)

func TestDeadLettersListsAtMostTheSetting(t *testing.T) {
	s := newSystem(t, func(c *console.Config) { c.DeadLetters = 1 })
	deadLetter(t, s.store, "order-2")
	ob := s.state(t).Outboxes[0]
	require.Equal(t, 2, ob.DeadLetters)
	require.Len(t, ob.Letters, 1)
}

func TestTrustedOriginsMaySendActions(t *testing.T) {
	s := newSystem(t, func(c *console.Config) { c.TrustedOrigins = []string{"https://ops.example.com"} })
	csrf, ck := s.session(t)
	headers := map[string]string{"Authorization": "Bearer " + token, "X-CSRF-Token": csrf, "Origin": "https://ops.example.com", "Sec-Fetch-Site": "cross-site"}
	status, body := s.do(t, "/api/policies/dep/breaker/force-open", "", headers, ck)
	require.Equal(t, http.StatusOK, status, body)
	headers["Origin"] = "https://other.example.com"
	status, _ = s.do(t, "/api/policies/dep/breaker/reset", "", headers, ck)
	require.Equal(t, http.StatusForbidden, status)
}

func TestAStreamOpenedAfterCloseEndsAtOnce(t *testing.T) {
	s := newSystem(t, nil)
	require.NoError(t, s.console.Close(context.Background()))
	resp, err := http.Get(s.server.URL + "/ops/api/events")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.NoError(t, s.console.Close(context.Background()), "a second Close")
}
