package console

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
)

//go:embed assets
var assets embed.FS

// Console is the operations console, an http.Handler. Make one with New
// (the zero Console is not usable: it panics). It is safe for concurrent
// use.
type Console struct {
	cfg    Config
	auth   Authenticator
	origin *http.CrossOriginProtection
	reads  *http.ServeMux
	acts   *http.ServeMux // nil in read-only mode
	events eventCounts
	// encoded are the policies' settings, encoded once per document.
	encoded settingsCache

	editMu sync.Mutex // serialises settings edits: read the document, edit, Apply

	mu      sync.Mutex // guards closed and streams
	closed  chan struct{}
	streams sync.WaitGroup
}

// New returns a console showing what cfg registers, or an error naming
// the first invalid setting.
func New(cfg Config) (*Console, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, auth: cfg.Authenticator, origin: http.NewCrossOriginProtection(), closed: make(chan struct{})}
	if c.auth == nil {
		c.auth = newTokens(cfg.Tokens)
	}
	for _, o := range cfg.TrustedOrigins {
		if err := c.origin.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("console: Config.TrustedOrigins: %w", err)
		}
	}
	static, _ := fs.Sub(assets, "assets") // the directory is embedded
	c.reads = http.NewServeMux()
	c.reads.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	c.reads.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, static, "index.html")
	})
	c.reads.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) {
		data, err := c.encodeState(r.Context())
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(data, '\n')) // the client may have gone
	})
	c.reads.HandleFunc("GET /api/session", func(w http.ResponseWriter, r *http.Request) {
		tok := ""
		if !c.cfg.ReadOnly {
			tok = session(w, r)
		}
		writeJSON(w, http.StatusOK, map[string]any{"read_only": c.cfg.ReadOnly, "csrf": tok})
	})
	c.reads.HandleFunc("GET /api/events", c.stream)
	c.reads.HandleFunc("GET /api/policies/{name}/settings", c.settings)
	if !cfg.ReadOnly {
		c.acts = http.NewServeMux()
		c.routeActions()
	}
	return c, nil
}

// ServeHTTP serves the page and the API. A request whose method is not GET
// or HEAD passes the guard (origin, CSRF token, operator) before it is
// routed to an action; in read-only mode it is 404.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.check()
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		c.reads.ServeHTTP(w, r)
		return
	}
	if c.acts == nil {
		http.NotFound(w, r)
		return
	}
	if err := c.origin.Check(r); err != nil {
		c.refuse(w, r, http.StatusForbidden, "cross-origin request", err)
		return
	}
	if err := checkCSRF(r); err != nil {
		c.refuse(w, r, http.StatusForbidden, "CSRF", err)
		return
	}
	op, err := c.auth.Authenticate(r)
	if err != nil || op == "" {
		if err == nil {
			err = errBadCredentials
		}
		c.refuse(w, r, http.StatusUnauthorized, "authentication", err)
		return
	}
	c.acts.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), operatorKey{}, op)))
}

// contentSecurityPolicy lets the page load only its own assets and talk
// only to its own origin, so an injected script or frame has nowhere to
// run or send an operator's token.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

func (c *Console) check() {
	if c == nil || c.reads == nil {
		panic("console: Console used without New")
	}
}

type operatorKey struct{}

// refuse answers a request the guard turned away and audits it; the
// client learns only the reason's class, not the error.
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, status int, reason string, err error) {
	c.cfg.AuditLog.LogAttrs(r.Context(), slog.LevelWarn, "console: action refused",
		slog.String("operator", ""), slog.String("action", r.Method+" "+r.URL.Path),
		slog.String("remote", r.RemoteAddr), slog.String("outcome", "refused: "+reason),
		slog.String("error", err.Error()))
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark console"`)
	}
	writeJSON(w, status, map[string]string{"error": reason + " refused"})
}

// Close ends the event streams (each returns to its client) and waits
// within ctx for them to finish; the page and the API go on answering, and
// a new stream ends at once. Call it before http.Server.Shutdown, which
// waits for open streams. A second Close returns nil.
func (c *Console) Close(ctx context.Context) error {
	c.check()
	c.mu.Lock()
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	c.mu.Unlock()
	done := make(chan struct{})
	go func() { c.streams.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("console: closing: event streams still open: %w", ctx.Err())
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone
}
