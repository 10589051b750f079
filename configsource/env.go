package configsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
)

// Env is a Source over an environment variable holding the whole document,
// for a platform that configures a process through its environment. A
// process's environment is read once, when Watch is called: the channel
// delivers that one version (Version is a hash of it, as for File) and then
// nothing until ctx ends. An unset variable is delivered as a Document with
// Err.
type Env struct {
	name string
}

// NewEnv returns an Env reading the variable called name. An empty name is
// an error.
func NewEnv(name string) (*Env, error) {
	if name == "" {
		return nil, fmt.Errorf("configsource: NewEnv: the variable's name must not be empty")
	}
	return &Env{name: name}, nil
}

// Watch implements Source.
func (e *Env) Watch(ctx context.Context) (<-chan Document, error) {
	if e == nil || e.name == "" {
		panic("configsource: Env used without NewEnv")
	}
	doc := Document{Err: fmt.Errorf("configsource: environment variable %s is not set", e.name)}
	if v, ok := os.LookupEnv(e.name); ok {
		sum := sha256.Sum256([]byte(v))
		doc = Document{Data: []byte(v), Version: hex.EncodeToString(sum[:6])}
	}
	ch := make(chan Document, 1)
	ch <- doc
	context.AfterFunc(ctx, func() { close(ch) })
	return ch, nil
}
