// Package consolebrowser drives the operations console in a real browser.
package consolebrowser

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/console"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/policyset"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

const operatorToken = "browser-test-operator-token"

// TestConsoleInChromium opens the console in Chromium, watches the
// breaker of a policy turn open while its dependency fails, then enters
// the operator's token, replays a dead letter with a click and watches
// the outbox drain, then resets the breaker and changes its settings in
// the dialog. Each step's screenshot is saved in the test's artifact
// directory (go test -artifacts keeps it).
func TestConsoleInChromium(t *testing.T) {
	browser := testenv.Chromium(t)
	ctx := t.Context()

	doc, err := policyset.Parse([]byte(`{"policies": {"inventory": {"circuit_breaker": {"consecutive_failures": 5, "open_wait": "1h"}}}}`))
	require.NoError(t, err)
	set, err := policyset.New(doc, policyset.Config{})
	require.NoError(t, err)
	inventory, err := set.Policy("inventory")
	require.NoError(t, err)

	// An outbox whose broker is down long enough for one message to die.
	store := outbox.NewMemoryStore()
	var brokerUp atomic.Bool
	published := make(chan outbox.Message, 1)
	relay, err := outbox.NewRelay(store, outbox.PublisherFunc(func(_ context.Context, m outbox.Message) error {
		if !brokerUp.Load() {
			return errors.New("broker unreachable")
		}
		published <- m
		return nil
	}), outbox.Config{MaxAttempts: 1, PollInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, store.Enqueue(ctx, outbox.NewMessage("orders", "order-7", []byte(`{"total": 42}`))))
	_, err = relay.ProcessBatch(ctx)
	require.NoError(t, err)
	brokerUp.Store(true)
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(context.Background()) }()
	t.Cleanup(func() {
		require.NoError(t, relay.Close(context.Background()))
		<-relayDone
	})

	ops, err := console.New(console.Config{
		Policies: set, Outboxes: map[string]console.Outbox{"orders": store},
		Tokens: map[string]string{"tester": operatorToken}, Interval: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", ops))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		require.NoError(t, ops.Close(context.Background()))
		srv.Close()
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser),
		chromedp.NoSandbox, chromedp.WindowSize(1280, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	defer cancelTimeout()

	dir := t.ArtifactDir()
	t.Logf("screenshots in %s", dir)
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, name), png, 0o644)
		})
	}
	const (
		breaker   = chromedp.CSS(`.policy[data-policy="inventory"] .breaker-state`)
		deadCount = chromedp.CSS(`.outbox[data-outbox="orders"] .dead-count`)
		replay    = chromedp.CSS(`.outbox[data-outbox="orders"] tr.dead-letter button.replay`)
	)
	// waitText waits until the element sel reads want; the page redraws
	// from each state event, so the element is looked up afresh each time.
	waitText := func(sel chromedp.CSS, want string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			got := ""
			for {
				text, err := chromedp.Text(sel)(ctx, tg)
				if err == nil {
					got = text
				}
				if got == want {
					return nil
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("waiting for %s to read %q, it reads %q", sel, want, got)
				case <-time.After(50 * time.Millisecond):
				}
			}
		})
	}

	require.NoError(t, chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/ops/"),
		chromedp.WaitVisible(breaker),
		waitText(breaker, "closed"),
		waitText(deadCount, "1"),
		shot("1-closed.png"),
	), "opening the console")

	for range 5 {
		_ = inventory.Do(ctx, func(context.Context) error { return errors.New("inventory service down") })
	}
	require.NoError(t, chromedp.Do(bctx, waitText(breaker, "open"), shot("2-breaker-open.png")), "watching the breaker open")

	id := mustID(t, store)
	require.NoError(t, chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("token"), operatorToken),
		chromedp.Click(chromedp.CSS("#login button")),
		waitText(chromedp.CSS("#message"), "token kept for this tab"),
		chromedp.WaitVisible(replay),
		shot("3-dead-letter.png"),
		chromedp.Click(replay),
		waitText(chromedp.CSS("#message"), "replay "+id+": done"),
		waitText(deadCount, "0"),
		shot("4-outbox-drained.png"),
	), "replaying the dead letter")

	select {
	case m := <-published:
		require.Equal(t, "order-7", m.Key)
	case <-time.After(10 * time.Second):
		t.Fatal("the replayed message was not published")
	}
	require.Eventually(t, func() bool {
		st, err := store.Stats(ctx)
		return err == nil && st.Pending == 0 && st.DeadLetters == 0
	}, 10*time.Second, 20*time.Millisecond, "the outbox did not drain")

	// The operator resets the breaker and loosens it through the settings
	// dialog.
	card := `.policy[data-policy="inventory"] `
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(card+"button.reset")),
		waitText(breaker, "closed"),
		chromedp.Click(chromedp.CSS(card+"button.edit")),
		chromedp.WaitVisible(chromedp.ID("editor-text")),
		chromedp.SetValue(chromedp.ID("editor-text"), `{"circuit_breaker": {"consecutive_failures": 7, "open_wait": "1h"}}`),
		chromedp.Click(chromedp.ID("editor-apply")),
		waitText(chromedp.CSS("#message"), "settings of inventory: done"),
		shot("5-settings-applied.png"),
	), "resetting the breaker and changing its settings")
	require.Equal(t, 7, inventory.Parts().CircuitBreaker.Settings().ConsecutiveFailures)

	for _, f := range []string{"1-closed.png", "2-breaker-open.png", "3-dead-letter.png", "4-outbox-drained.png", "5-settings-applied.png"} {
		info, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		require.Positive(t, info.Size())
	}
}

// mustID returns the ID of the outbox's one dead letter, as the page
// names it in its message.
func mustID(t *testing.T, store *outbox.MemoryStore) string {
	t.Helper()
	dls, err := store.DeadLetters(context.Background(), outbox.DeadLetterQuery{Limit: 1})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	return dls[0].ID.String()
}
