package configsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// FileConfig sets how a File watches. The zero FileConfig is the default.
type FileConfig struct {
	// Interval is how often the file is read to see whether it changed:
	// 1s when zero, otherwise in [1ms, 1h].
	Interval time.Duration
	// Clock paces the reads; clock.System when nil.
	Clock clock.Clock
}

// DefaultFileConfig returns the defaults a zero FileConfig stands for.
func DefaultFileConfig() FileConfig { return FileConfig{Interval: time.Second, Clock: clock.System} }

// File is a Source over a file on disk. It reads the file every
// FileConfig.Interval and delivers its contents when they differ from the
// last version delivered; Document.Version is the first 12 hex digits of
// the contents' SHA-256. A file that cannot be read (missing, no permission)
// is delivered once as a Document with Err, and watched on: the version that
// appears next is delivered.
//
// Write the file by renaming a complete copy into place (as editors and
// configuration tools do): a read that meets a half-written file delivers
// that half, which a caller that validates each version refuses, and the
// complete file is delivered at the next read.
type File struct {
	path string
	cfg  FileConfig
}

// NewFile returns a File watching path. An empty path or a setting out of
// range is an error naming it.
func NewFile(path string, cfg FileConfig) (*File, error) {
	if path == "" {
		return nil, fmt.Errorf("configsource: NewFile: path must not be empty")
	}
	def := DefaultFileConfig()
	switch {
	case cfg.Interval == 0:
		cfg.Interval = def.Interval
	case cfg.Interval < time.Millisecond || cfg.Interval > time.Hour:
		return nil, fmt.Errorf("configsource: FileConfig.Interval must be 0 (1s) or in [1ms, 1h], got %v", cfg.Interval)
	}
	cfg.Clock = clock.OrSystem(cfg.Clock)
	return &File{path: path, cfg: cfg}, nil
}

// Watch implements Source. Its goroutine ends, and the channel closes, when
// ctx ends.
func (f *File) Watch(ctx context.Context) (<-chan Document, error) {
	if f == nil || f.cfg.Clock == nil {
		panic("configsource: File used without NewFile")
	}
	ch := make(chan Document)
	go f.watch(ctx, ch)
	return ch, nil
}

func (f *File) watch(ctx context.Context, ch chan<- Document) {
	defer close(ch)
	var last string // the version or error text last delivered
	for {
		doc := f.read()
		key := doc.Version
		if doc.Err != nil {
			key = "error: " + doc.Err.Error()
		}
		if key != last {
			select {
			case ch <- doc:
				last = key
			case <-ctx.Done():
				return
			}
		}
		if clock.Sleep(ctx, f.cfg.Clock, f.cfg.Interval) != nil {
			return
		}
	}
}

func (f *File) read() Document {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return Document{Err: fmt.Errorf("configsource: %w", err)}
	}
	sum := sha256.Sum256(data)
	return Document{Data: data, Version: hex.EncodeToString(sum[:6])}
}
