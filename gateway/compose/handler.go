package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/gateway/upstream"
)

// HeaderPartial names, on a partial answer, the parts that are missing from
// it (omitted or replaced by their fallback), comma-separated in Config
// order. FieldPartial is the body's field holding the same list.
const (
	HeaderPartial = "X-Partial"
	FieldPartial  = "_partial"
)

// errDependency is the failure of a part whose dependency failed.
var errDependency = errors.New("compose: a part it depends on failed")

// Handler answers each request by calling its parts and merging their
// answers; see the package doc for its guarantees. It is safe for
// concurrent use.
type Handler struct {
	cfg   Config
	parts []*part
}

// New returns a Handler sending each part through upstreams[part.Upstream].
// It checks cfg and returns an error naming the first invalid field.
func New(upstreams map[string]http.RoundTripper, cfg Config) (*Handler, error) {
	if len(upstreams) == 0 {
		return nil, errors.New("compose: New needs at least one transport in upstreams")
	}
	cfg = cfg.withDefaults()
	parts, err := cfg.check(upstreams)
	if err != nil {
		return nil, err
	}
	cfg.Parts = append([]Part(nil), cfg.Parts...)
	return &Handler{cfg: cfg, parts: parts}, nil
}

// Settings returns the Config the Handler runs with, defaults filled in.
func (h *Handler) Settings() Config {
	h.check()
	c := h.cfg
	c.Parts = append([]Part(nil), c.Parts...)
	return c
}

func (h *Handler) check() {
	if h == nil || h.parts == nil {
		panic("compose: Handler used without New")
	}
}

// result is what one part of one request came to.
type result struct {
	key     string
	status  int
	body    []byte                     // the JSON answer
	fields  map[string]json.RawMessage // its fields, for a Merge part
	decoded any                        // decoded with numbers kept, when another part reads it
	err     error
}

// request is the state of one composed request.
type request struct {
	h       *Handler
	r       *http.Request
	ctx     context.Context
	results []result
	done    []chan struct{}
	sem     chan struct{}
	ended   chan int
}

// ServeHTTP calls the parts and writes the composed answer: 200 with a JSON
// object, possibly partial, or a problem+json 502 or 504 when a part with
// OnError Fail failed.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.check()
	start := h.cfg.Clock.Now()
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.cfg.Deadline))
	defer cancel()
	n := len(h.parts)
	q := &request{h: h, r: r, ctx: ctx, results: make([]result, n), done: make([]chan struct{}, n),
		sem: make(chan struct{}, h.cfg.MaxConcurrency), ended: make(chan int, n)}
	for i := range q.done {
		q.done[i] = make(chan struct{})
	}
	for _, p := range h.parts {
		go q.run(p)
	}
	var failed *part
	for range n {
		i := <-q.ended
		if q.results[i].err != nil && h.parts[i].onError == Fail && failed == nil {
			failed = h.parts[i]
			cancel() // the answer is decided: stop the others
		}
	}
	if failed != nil {
		status := http.StatusBadGateway
		if errors.Is(q.results[failed.index].err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		h.observe(r.Context(), Answered{Name: h.cfg.Name, Status: status, Elapsed: h.cfg.Clock.Now().Sub(start)})
		bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: status, Detail: fmt.Sprintf("Part %q of the composed answer failed.", failed.key)})
		return
	}
	body, partial := q.compose()
	h.observe(r.Context(), Answered{Name: h.cfg.Name, Status: http.StatusOK, Partial: partial, Elapsed: h.cfg.Clock.Now().Sub(start)})
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	if partial != nil {
		hdr.Set(HeaderPartial, strings.Join(partial, ","))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (h *Handler) observe(ctx context.Context, e bulwark.Event) {
	if h.cfg.Observer != nil {
		h.cfg.Observer.Observe(ctx, e)
	}
}

// run waits for p's dependencies and a slot, calls it and records the
// result; it always ends by closing p's done channel and reporting on
// ended.
func (q *request) run(p *part) {
	res := &q.results[p.index]
	res.key = p.key
	var elapsed time.Duration
	defer func() {
		outcome := "ok"
		if res.err != nil {
			outcome = string(p.onError)
		}
		q.h.observe(q.ctx, PartDone{Name: q.h.cfg.Name, Part: p.key, Status: res.status, Elapsed: elapsed, Err: res.err, Outcome: outcome})
		close(q.done[p.index])
		q.ended <- p.index
	}()
	for _, d := range p.depParts {
		select {
		case <-q.done[d.index]:
			if q.results[d.index].err != nil {
				res.err = fmt.Errorf("%w: %q", errDependency, d.key)
				return
			}
		case <-q.ctx.Done():
			res.err = fmt.Errorf("compose: part %q waiting for %q: %w", p.key, d.key, context.Cause(q.ctx))
			return
		}
	}
	target, err := p.url(q.r, q.results)
	if err != nil {
		res.err = err
		return
	}
	select {
	case q.sem <- struct{}{}:
	case <-q.ctx.Done():
		res.err = fmt.Errorf("compose: part %q waiting for a slot: %w", p.key, context.Cause(q.ctx))
		return
	}
	start := q.h.cfg.Clock.Now()
	res.err = q.call(p, target, res)
	elapsed = q.h.cfg.Clock.Now().Sub(start)
	<-q.sem
}

// call sends p's request and reads its answer into res.
func (q *request) call(p *part, target string, res *result) error {
	ctx := q.ctx
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(upstream.NewCall(ctx), p.method, target, nil)
	if err != nil {
		return fmt.Errorf("compose: part %q: %w", p.key, err)
	}
	for _, name := range p.headers {
		if v := q.r.Header[name]; len(v) > 0 {
			req.Header[name] = v
		}
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("compose: part %q: %w", p.key, err)
	}
	defer resp.Body.Close()
	res.status = resp.StatusCode
	limit := q.h.cfg.MaxPartBytes
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return fmt.Errorf("compose: part %q: reading the answer: %w", p.key, err)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("compose: part %q: status %d", p.key, resp.StatusCode)
	case int64(len(body)) > limit:
		return fmt.Errorf("compose: part %q: the answer is larger than Config.MaxPartBytes (%d)", p.key, limit)
	}
	if p.merge {
		if err := json.Unmarshal(body, &res.fields); err != nil || res.fields == nil {
			return fmt.Errorf("compose: part %q: a Merge part's answer must be a JSON object", p.key)
		}
	} else if !json.Valid(body) {
		return fmt.Errorf("compose: part %q: the answer is not JSON", p.key)
	}
	if p.needed {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&res.decoded); err != nil {
			return fmt.Errorf("compose: part %q: %w", p.key, err)
		}
	}
	res.body = body
	return nil
}

// compose merges the results (no part with OnError Fail failed) into the
// answer's body, and lists the missing parts.
func (q *request) compose() ([]byte, []string) {
	out := make(map[string]json.RawMessage, len(q.results)+1)
	var partial []string
	for i, p := range q.h.parts {
		res := &q.results[i]
		fields, value := res.fields, json.RawMessage(res.body)
		if res.err != nil {
			partial = append(partial, p.key)
			if p.onError == Omit {
				continue
			}
			fields, value = p.fbFields, p.fallback
		}
		if p.merge {
			for k, v := range fields {
				out[k] = v
			}
			continue
		}
		out[p.key] = value
	}
	delete(out, FieldPartial)
	if partial != nil {
		list, _ := json.Marshal(partial) // a list of strings
		out[FieldPartial] = list
	}
	body, err := json.Marshal(out)
	if err != nil { // every value was checked to be JSON
		panic("compose: encoding the answer: " + err.Error())
	}
	return append(body, '\n'), partial
}
