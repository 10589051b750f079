package policyset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/configsource"
	"github.com/bulwark-go/bulwark/internal/lifecycle"
)

// ErrUnknown is returned by Set.Policy for a name the set does not have.
var ErrUnknown = errors.New("policyset: no policy of that name")

// Config sets what a Set's documents cannot say. The zero Config is the
// default: no observer, the system clock, slog.Default, no source.
type Config struct {
	// Name names the set in its events (Applied, Refused).
	Name string
	// Observer receives the set's events and every part's, each part named
	// after its policy.
	Observer bulwark.Observer
	// Clock is every part's clock; nil means clock.System.
	Clock clock.Clock
	// Logger receives a Refused document's error (and is a detached
	// timeout's logger); nil means slog.Default().
	Logger *slog.Logger
	// Functions are the classifiers of each policy, by name.
	Functions map[string]Functions
	// Source, when set, is the document Run follows.
	Source configsource.Source
}

// Set is a set of named policy chains. It is safe for concurrent use; make
// one with New (the zero Set is not usable: its methods panic).
type Set struct {
	cfg Config
	lc  *lifecycle.State

	mu       sync.Mutex // serialises Apply; guards policies and doc
	policies map[string]*Policy
	doc      *Document
}

// Policy is one name's chain, a bulwark.Policy. Each call reads the chain
// once, when it starts, and keeps it to its end, so a call never runs under
// half of one version of the settings and half of another.
type Policy struct {
	name  string
	parts atomic.Pointer[Parts]
}

// New returns a Set with the policies doc declares, or an error naming the
// first invalid one (by name and part) and the setting.
func New(doc *Document, cfg Config) (*Set, error) {
	if doc == nil {
		return nil, errors.New("policyset: New needs a document, got nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Set{cfg: cfg, lc: lifecycle.New(), policies: map[string]*Policy{}}
	if err := s.Apply(doc); err != nil {
		return nil, err
	}
	return s, nil
}

// Apply makes doc the set's configuration, as a whole or not at all (see
// the package documentation): it returns an error naming the first invalid
// policy, part and setting, or a name doc drops, and then changes nothing.
func (s *Set) Apply(doc *Document) error {
	s.check()
	if doc == nil {
		return errors.New("policyset: Apply needs a document, got nil")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	type version struct {
		c     configs
		fresh *Parts
	}
	next := make(map[string]version, len(doc.Policies))
	for _, name := range doc.names() {
		if err := checkName(name); err != nil {
			return err
		}
		c, err := s.configsOf(name, doc.Policies[name])
		if err == nil {
			var fresh *Parts
			if fresh, err = build(c); err == nil {
				next[name] = version{c, fresh}
				continue
			}
		}
		return fmt.Errorf("policyset: policies.%s.%w", name, err)
	}
	var dropped []string
	for name := range s.policies {
		if _, ok := next[name]; !ok {
			dropped = append(dropped, name)
		}
	}
	if len(dropped) > 0 {
		sort.Strings(dropped)
		return fmt.Errorf("policyset: policies.%s: a name cannot be removed while the process runs (callers hold it); restart to remove it", dropped[0])
	}
	for name, v := range next {
		p := s.policies[name]
		parts := v.fresh
		if p == nil {
			p = &Policy{name: name}
			s.policies[name] = p
		} else {
			parts = carry(p.parts.Load(), v.fresh, v.c)
		}
		parts.link()
		p.parts.Store(parts)
	}
	s.doc = doc
	return nil
}

// Policy returns the chain called name, or ErrUnknown. The Policy stays the
// name's for the life of the Set and follows every Apply.
func (s *Set) Policy(name string) (*Policy, error) {
	s.check()
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.policies[name]; p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknown, name)
}

// Names returns the set's policy names, sorted.
func (s *Set) Names() []string {
	s.check()
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.policies))
	for n := range s.policies {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Document returns the document last applied.
func (s *Set) Document() *Document {
	s.check()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doc
}

func (s *Set) check() {
	if s == nil || s.lc == nil {
		panic("policyset: Set used without New")
	}
}

// Do runs op through the chain, as it is when the call starts.
func (p *Policy) Do(ctx context.Context, op func(context.Context) error) error {
	return p.parts.Load().chain.Do(ctx, op)
}

// Name returns the policy's name.
func (p *Policy) Name() string { return p.name }

// Parts returns the chain's parts as they are now.
func (p *Policy) Parts() Parts { return *p.parts.Load() }
