package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/bulwark-go/bulwark/policyset"
	"github.com/google/uuid"
)

// maxBody bounds an action's request body.
const maxBody = 1 << 20

// actionRoutes are the console's actions, as ServeMux patterns; every one
// is routed behind the guard in ServeHTTP.
var actionRoutes = []string{
	"POST /api/policies/{name}/breaker/force-open",
	"POST /api/policies/{name}/breaker/reset",
	"POST /api/policies/{name}/settings",
	"POST /api/outboxes/{name}/dead-letters/{id}/replay",
	"POST /api/outboxes/{name}/dead-letters/{id}/discard",
	"POST /api/sagas/{name}/{id}/resume",
	"POST /api/sagas/{name}/{id}/abandon",
	"POST /api/projections/{name}/{projection}/skip",
	"POST /api/projections/{name}/{projection}/resume",
	"POST /api/projections/{name}/{projection}/rebuild",
	"POST /api/components/{name}/{action}",
}

// errNotFound answers 404: no such policy, outbox, saga kind, projector,
// component or dead letter.
var errNotFound = errors.New("not found")

// errBadRequest wraps what the client sent wrong; it answers 400.
type errBadRequest struct{ err error }

func (e errBadRequest) Error() string { return e.err.Error() }
func (e errBadRequest) Unwrap() error { return e.err }

func (c *Console) routeActions() {
	handlers := []func(r *http.Request) (target string, err error){
		c.breaker(true), c.breaker(false), c.editSettings,
		c.deadLetter(true), c.deadLetter(false),
		c.saga(true), c.saga(false),
		c.projection("skip"), c.projection("resume"), c.projection("rebuild"),
		c.component,
	}
	for i, pattern := range actionRoutes {
		act := handlers[i]
		c.acts.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			target, err := act(r)
			c.audit(r, target, err)
			status := http.StatusOK
			var bad errBadRequest
			switch {
			case err == nil:
				writeJSON(w, status, map[string]bool{"ok": true})
				return
			case errors.Is(err, errNotFound):
				status = http.StatusNotFound
			case errors.As(err, &bad):
				status = http.StatusBadRequest
			default:
				status = http.StatusConflict
			}
			writeJSON(w, status, map[string]string{"error": err.Error()})
		})
	}
}

// audit records who did what to which target, and how it ended.
func (c *Console) audit(r *http.Request, target string, err error) {
	op, _ := r.Context().Value(operatorKey{}).(string)
	attrs := []slog.Attr{
		slog.String("operator", op), slog.String("action", r.Pattern),
		slog.String("target", target), slog.String("remote", r.RemoteAddr),
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("outcome", "failed"), slog.String("error", err.Error()))
	} else {
		attrs = append(attrs, slog.String("outcome", "done"))
	}
	c.cfg.AuditLog.LogAttrs(r.Context(), level, "console: action", attrs...)
}

func (c *Console) policy(name string) (*policyset.Policy, error) {
	if c.cfg.Policies == nil {
		return nil, fmt.Errorf("policy %q: %w", name, errNotFound)
	}
	p, err := c.cfg.Policies.Policy(name)
	if err != nil {
		return nil, fmt.Errorf("policy %q: %w", name, errNotFound)
	}
	return p, nil
}

// breaker forces the policy's breaker open (open) or resets it.
func (c *Console) breaker(open bool) func(*http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		name := r.PathValue("name")
		p, err := c.policy(name)
		if err != nil {
			return name, err
		}
		b := p.Parts().CircuitBreaker
		if b == nil {
			return name, fmt.Errorf("policy %q has no circuit breaker: %w", name, errNotFound)
		}
		if open {
			b.ForceOpen()
		} else {
			b.Reset()
		}
		return name, nil
	}
}

// settings answers the policy's part of the document.
func (c *Console) settings(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := c.policy(name); err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, c.cfg.Policies.Document().Policies[name])
}

// editSettings applies the set's document with the policy's part replaced
// by the body, as a whole or not at all.
func (c *Console) editSettings(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if _, err := c.policy(name); err != nil {
		return name, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return name, errBadRequest{fmt.Errorf("reading the settings: %w", err)}
	}
	c.editMu.Lock()
	defer c.editMu.Unlock()
	policies := map[string]json.RawMessage{}
	for n, spec := range c.cfg.Policies.Document().Policies {
		raw, err := json.Marshal(spec)
		if err != nil {
			return name, err
		}
		policies[n] = raw
	}
	policies[name] = body
	raw, err := json.Marshal(map[string]any{"policies": policies})
	if err != nil {
		return name, errBadRequest{fmt.Errorf("the settings are not JSON: %w", err)}
	}
	doc, err := policyset.Parse(raw)
	if err != nil {
		return name, errBadRequest{err}
	}
	if err := c.cfg.Policies.Apply(doc); err != nil {
		return name, errBadRequest{err}
	}
	return name, nil
}

// deadLetter replays (replay) or discards a dead letter.
func (c *Console) deadLetter(replay bool) func(*http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		name, idText := r.PathValue("name"), r.PathValue("id")
		target := name + "/" + idText
		ob, ok := c.cfg.Outboxes[name]
		if !ok {
			return target, fmt.Errorf("outbox %q: %w", name, errNotFound)
		}
		id, err := uuid.Parse(idText)
		if err != nil {
			return target, errBadRequest{fmt.Errorf("dead letter id: %w", err)}
		}
		do := ob.Discard
		if replay {
			do = ob.Replay
		}
		n, err := do(r.Context(), id)
		if err != nil {
			return target, err
		}
		if n == 0 {
			return target, fmt.Errorf("dead letter %s of outbox %q: %w", id, name, errNotFound)
		}
		return target, nil
	}
}

// saga resumes (resume) or abandons a saga that needs attention.
func (c *Console) saga(resume bool) func(*http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		name, id := r.PathValue("name"), r.PathValue("id")
		target := name + "/" + id
		s, ok := c.cfg.Sagas[name]
		if !ok {
			return target, fmt.Errorf("sagas %q: %w", name, errNotFound)
		}
		if resume {
			return target, s.Resume(context.WithoutCancel(r.Context()), id)
		}
		var body struct {
			Reason string `json:"reason"`
		}
		if err := decodeBody(r, &body); err != nil {
			return target, err
		}
		if body.Reason == "" {
			return target, errBadRequest{errors.New("abandoning a saga needs a reason")}
		}
		op, _ := r.Context().Value(operatorKey{}).(string)
		return target, s.Abandon(context.WithoutCancel(r.Context()), id, body.Reason+" (by "+op+")")
	}
}

// projection skips, resumes or rebuilds a projection.
func (c *Console) projection(action string) func(*http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		name, proj := r.PathValue("name"), r.PathValue("projection")
		target := name + "/" + proj
		p, ok := c.cfg.Projections[name]
		if !ok {
			return target, fmt.Errorf("projector %q: %w", name, errNotFound)
		}
		ctx := context.WithoutCancel(r.Context())
		switch action {
		case "skip":
			return target, p.Skip(ctx, proj)
		case "resume":
			return target, p.Resume(ctx, proj)
		default:
			return target, p.Rebuild(ctx, proj)
		}
	}
}

// component runs one of a component's actions.
func (c *Console) component(r *http.Request) (string, error) {
	name, action := r.PathValue("name"), r.PathValue("action")
	comp, ok := c.cfg.Components[name]
	if !ok {
		return name, fmt.Errorf("component %q: %w", name, errNotFound)
	}
	var body struct {
		Target string `json:"target"`
	}
	if err := decodeBody(r, &body); err != nil {
		return name, err
	}
	target := name + "/" + body.Target
	known := false
	for _, a := range comp.Actions() {
		known = known || a == action
	}
	if !known {
		return target, fmt.Errorf("component %q has no action %q: %w", name, action, errNotFound)
	}
	return target, comp.Act(context.WithoutCancel(r.Context()), action, body.Target)
}

// decodeBody reads a JSON object strictly; an empty body is an empty
// object.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return errBadRequest{fmt.Errorf("reading the body: %w", err)}
	}
	if len(body) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errBadRequest{fmt.Errorf("the body: %w", err)}
	}
	return nil
}
