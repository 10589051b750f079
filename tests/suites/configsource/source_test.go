package configsource_test

import (
	"bytes"
	"context"
	"strconv"
	"sync"

	"github.com/bulwark-go/bulwark/configsource"
)

// store keeps every revision of one document, and closes changed on each
// write so that watchers wake up.
type store struct {
	mu        sync.Mutex
	revisions [][]byte // revision i+1 is revisions[i]
	changed   chan struct{}
}

func newStore() *store { return &store{changed: make(chan struct{})} }

func (s *store) write(data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revisions = append(s.revisions, bytes.Clone(data))
	close(s.changed)
	s.changed = make(chan struct{})
}

// since returns the revisions after the first n and the channel closed by
// the next write.
func (s *store) since(n int) ([][]byte, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revisions[n:], s.changed
}

// source watches a store. flaw names one deliberate defect ("" for none).
type source struct {
	s    *store
	flaw string
}

func (src *source) Watch(ctx context.Context) (<-chan configsource.Document, error) {
	ch := make(chan configsource.Document)
	go src.watch(ctx, ch)
	return ch, nil
}

// watch delivers the latest revision at once, then every later one in
// order, skipping a revision whose Data is the one delivered last.
func (src *source) watch(ctx context.Context, ch chan<- configsource.Document) {
	defer func() {
		if src.flaw != "never-closes" {
			close(ch)
		}
	}()
	revs, _ := src.s.since(0)
	seen := max(len(revs)-1, 0) // start at the current revision
	if src.flaw == "drops-current" {
		seen = len(revs)
	}
	var last []byte
	for {
		revs, changed := src.s.since(seen)
		for _, data := range revs {
			seen++
			if last != nil && bytes.Equal(data, last) && src.flaw != "repeats" {
				continue
			}
			doc := configsource.Document{Data: data, Version: strconv.Itoa(seen)}
			switch src.flaw {
			case "no-version":
				doc.Version = ""
			case "constant-version":
				doc.Version = "1"
			}
			select {
			case ch <- doc:
				last = data
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}
