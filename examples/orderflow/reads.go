package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// detailParts are the parts of the composed order details (edgeDocument),
// and the service each comes from.
var detailParts = map[string]string{"order": "orders", "payment": "payments", "shipping": "inventory"}

// detailRead is one GET /orders/{id}/details the shop made.
type detailRead struct {
	order      string
	start, end time.Time
	status     int
	err        string   // why the read failed, or ""
	parts      []string // the parts the answer has
	partial    []string // the parts its "_partial" field lists
	header     []string // the parts its X-Partial header lists
}

// readDetails asks the gateway for an order's details, composed from the
// orders, payment and inventory services, and records the answer.
func (c *shop) readDetails(ctx context.Context, client, order string) {
	d := detailRead{order: order, start: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/orders/"+order+"/details", nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+c.tokens[client])
	resp, err := c.reads.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return // the run is stopping: not an answer
		}
		d.err = err.Error()
	} else {
		d.status = resp.StatusCode
		var body map[string]json.RawMessage
		raw, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case rerr != nil:
			d.err = rerr.Error()
		case resp.StatusCode != http.StatusOK:
			d.err = firstLine(string(raw))
		case json.Unmarshal(raw, &body) != nil:
			d.err = "the answer is not a JSON object"
		default:
			for k := range body {
				if k != "_partial" {
					d.parts = append(d.parts, k)
				}
			}
			slices.Sort(d.parts)
			if p, ok := body["_partial"]; ok && json.Unmarshal(p, &d.partial) != nil {
				d.err = "its _partial is not a list of parts"
			}
			for _, h := range strings.Split(resp.Header.Get("X-Partial"), ",") {
				if h = strings.TrimSpace(h); h != "" {
					d.header = append(d.header, h)
				}
			}
		}
	}
	d.end = time.Now()
	if len(d.partial) > 0 {
		c.count.detailsPartial.Add(1)
	} else if d.status == http.StatusOK && d.err == "" {
		c.count.detailsComplete.Add(1)
	}
	c.mu.Lock()
	c.details = append(c.details, d)
	c.mu.Unlock()
}

// historyRead is one history request the shop made.
type historyRead struct {
	phase  int    // the phase (history weight) it ran under; -1 when a reload came while it ran
	side   string // the server that answered (servedByHeader)
	status int
	err    string // why the answer was refused, or ""
}

// The shop's history readers: historyReaders of them, each reading an
// order history every historyEvery, so that a phase holds enough answers
// to judge the split by even when a loaded machine slows each read down.
const (
	historyReaders = 4
	historyEvery   = 80 * time.Millisecond
	historySample  = 2 * minSplitSample // read at the start of each phase (sampleHistories)
)

// browse runs the history readers until stop ends (a request in flight
// then still gets its answer; ctx cancels it) and returns when they have.
func (c *shop) browse(ctx, stop context.Context) {
	var wg sync.WaitGroup
	for r := range historyReaders {
		wg.Go(func() { c.readHistories(ctx, stop, r) })
	}
	wg.Wait()
}

// readHistories reads the clients' order histories, in turn, every
// historyEvery until stop ends.
func (c *shop) readHistories(ctx, stop context.Context, reader int) {
	clients := slices.Sorted(maps.Keys(c.tokens))
	for i := 0; sleepUntil(stop, time.Now().Add(historyEvery)); i++ {
		if !c.readHistory(ctx, clients[(i+reader)%len(clients)], fmt.Sprintf("history-%d-%05d", reader, i)) {
			return
		}
	}
}

// sampleHistories reads n order histories at once, historyReaders at a
// time, and returns when they are answered: the flow takes a sample right
// after each reload of the strangler weight, so every phase has answers
// to judge its split by however slow the machine is.
func (c *shop) sampleHistories(ctx context.Context, phase, n int) {
	clients := slices.Sorted(maps.Keys(c.tokens))
	sem := make(chan struct{}, historyReaders)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.readHistory(ctx, clients[i%len(clients)], fmt.Sprintf("sample-%d-%03d", phase, i))
		})
	}
	wg.Wait()
}

// readHistory reads client's order history, GET /history/{client}/orders,
// with key as its sticky key (each request has a key of its own, so that
// the gateway's split over the requests follows its weight), and records
// the answer, decoded strictly into historyAnswer: both servers must
// answer in that shape. It reports false when ctx has ended.
func (c *shop) readHistory(ctx context.Context, client, key string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/history/"+client+"/orders", nil)
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+c.tokens[client])
	req.Header.Set(historyKeyHeader, key)
	before := c.phase()
	resp, err := c.reads.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		c.record(historyRead{phase: before, err: err.Error()})
		return true
	}
	h := historyRead{phase: before, side: resp.Header.Get(servedByHeader), status: resp.StatusCode}
	if c.phase() != before {
		h.phase = -1
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	var answer historyAnswer
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	switch {
	case err != nil:
		h.err = err.Error()
	case resp.StatusCode != http.StatusOK:
		h.err = firstLine(string(raw))
	case dec.Decode(&answer) != nil || answer.Client != client || answer.Orders == nil:
		h.err = "the answer is not a history of " + client + ": " + firstLine(string(raw))
	}
	c.record(h)
	return true
}

func (c *shop) record(h historyRead) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.histories = append(c.histories, h)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
