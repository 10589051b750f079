// Package configsourcetest is the conformance suite every configsource.Source
// passes. A driver's test calls Run with a function that returns a Harness
// over a fresh document:
//
//	configsourcetest.Run(t, func(t *testing.T) configsourcetest.Harness {
//		path := filepath.Join(t.TempDir(), "config.json")
//		src, _ := configsource.NewFile(path, configsource.FileConfig{Interval: 10 * time.Millisecond})
//		return configsourcetest.Harness{Source: src, Write: func(t *testing.T, data []byte) { ... }}
//	})
//
// The suite runs from any module; it needs no configuration and reports no
// events.
package configsourcetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/configsource"
)

// Harness is one document under test.
type Harness struct {
	// Source watches the document.
	Source configsource.Source
	// Write stores data as the document's new version; it fails the test
	// when it cannot.
	Write func(t *testing.T, data []byte)
	// Wait bounds how long a new version may take to reach a watcher; 5s
	// when zero.
	Wait time.Duration
}

// Run runs the suite. newHarness is called once per subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"CurrentVersionFirst", testCurrentVersionFirst},
		{"FollowsNewVersions", testFollowsNewVersions},
		{"NeverTheSameDataTwiceInARow", testNoRepeats},
		{"ClosesWhenContextEnds", testClosesWhenContextEnds},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if h.Source == nil || h.Write == nil {
				t.Fatal("configsourcetest: Harness needs Source and Write")
			}
			if h.Wait <= 0 {
				h.Wait = 5 * time.Second
			}
			tc.run(t, h)
		})
	}
}

func (h Harness) watch(t *testing.T) <-chan configsource.Document {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := h.Source.Watch(ctx)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	return ch
}

// await reads documents until one holds want and returns it; it fails the
// test when none does within the harness's wait.
func (h Harness) await(t *testing.T, ch <-chan configsource.Document, want string) configsource.Document {
	t.Helper()
	deadline := time.After(h.Wait)
	for {
		select {
		case d, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed before delivering %q", want)
			}
			if d.Err == nil && string(d.Data) == want {
				if d.Version == "" {
					t.Fatalf("document %q delivered without a Version", want)
				}
				return d
			}
		case <-deadline:
			t.Fatalf("%q not delivered within %v", want, h.Wait)
		}
	}
}

func testCurrentVersionFirst(t *testing.T, h Harness) {
	h.Write(t, []byte(`{"v":1}`))
	ch := h.watch(t)
	select {
	case d := <-ch:
		if d.Err != nil || string(d.Data) != `{"v":1}` {
			t.Fatalf("first delivery = %q, %v; want the current version", d.Data, d.Err)
		}
	case <-time.After(h.Wait):
		t.Fatal("current version not delivered")
	}
}

func testFollowsNewVersions(t *testing.T, h Harness) {
	h.Write(t, []byte(`{"v":1}`))
	ch := h.watch(t)
	v1 := h.await(t, ch, `{"v":1}`)
	h.Write(t, []byte(`{"v":2}`))
	v2 := h.await(t, ch, `{"v":2}`)
	if v1.Version == v2.Version {
		t.Fatalf("two versions share Version %q", v1.Version)
	}
	h.Write(t, []byte(`{"v":3}`))
	h.await(t, ch, `{"v":3}`)
}

func testNoRepeats(t *testing.T, h Harness) {
	h.Write(t, []byte(`{"v":1}`))
	ch := h.watch(t)
	h.await(t, ch, `{"v":1}`)
	h.Write(t, []byte(`{"v":1}`))
	h.Write(t, []byte(`{"v":2}`))
	h.Write(t, []byte(`{"v":2}`))
	h.Write(t, []byte(`{"v":3}`))
	prev := []byte(`{"v":1}`)
	deadline := time.After(h.Wait)
	for {
		select {
		case d := <-ch:
			if d.Err != nil {
				continue
			}
			if bytes.Equal(d.Data, prev) {
				t.Fatalf("%q delivered twice in a row", d.Data)
			}
			prev = d.Data
			if string(d.Data) == `{"v":3}` {
				return
			}
		case <-deadline:
			t.Fatalf("last version not delivered within %v", h.Wait)
		}
	}
}

func testClosesWhenContextEnds(t *testing.T, h Harness) {
	h.Write(t, []byte(`{"v":1}`))
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := h.Source.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.await(t, ch, `{"v":1}`)
	cancel()
	deadline := time.After(h.Wait)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("watch channel still open %v after its context ended", h.Wait)
		}
	}
}
