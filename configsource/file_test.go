package configsource_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/configsource"
	"github.com/bulwark-go/bulwark/configsource/configsourcetest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
)

// writeFile replaces path's contents by renaming a complete copy into place.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestFileConformance(t *testing.T) {
	leakcheck.Check(t)
	configsourcetest.Run(t, func(t *testing.T) configsourcetest.Harness {
		path := filepath.Join(t.TempDir(), "config.json")
		src, err := configsource.NewFile(path, configsource.FileConfig{Interval: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return configsourcetest.Harness{Source: src, Write: func(t *testing.T, data []byte) { writeFile(t, path, data) }}
	})
}

func TestNewFileRefusesBadSettings(t *testing.T) {
	if _, err := configsource.NewFile("", configsource.FileConfig{}); err == nil || !strings.Contains(err.Error(), "path") {
		t.Fatalf("empty path: err = %v", err)
	}
	for _, d := range []time.Duration{-time.Second, time.Microsecond, 2 * time.Hour} {
		_, err := configsource.NewFile("x.json", configsource.FileConfig{Interval: d})
		if err == nil || !strings.Contains(err.Error(), "FileConfig.Interval") {
			t.Fatalf("Interval %v: err = %v, want one naming FileConfig.Interval", d, err)
		}
	}
}

// A file that is missing when the watch starts is reported once, and its
// first version is delivered when it appears.
func TestFileMissingThenWritten(t *testing.T) {
	leakcheck.Check(t)
	clk := clocktest.New(time.Unix(0, 0))
	path := filepath.Join(t.TempDir(), "config.yaml")
	src, err := configsource.NewFile(path, configsource.FileConfig{Interval: time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := src.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := <-ch; !errors.Is(d.Err, fs.ErrNotExist) {
		t.Fatalf("first delivery: err = %v, want fs.ErrNotExist", d.Err)
	}
	clk.BlockUntil(1)
	clk.Advance(time.Second) // still missing: nothing is delivered again
	clk.BlockUntil(1)
	writeFile(t, path, []byte("routes: []\n"))
	clk.Advance(time.Second)
	if d := <-ch; d.Err != nil || string(d.Data) != "routes: []\n" {
		t.Fatalf("after write: %q, %v", d.Data, d.Err)
	}
}
