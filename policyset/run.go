package policyset

import (
	"context"
	"errors"
	"fmt"
)

// Run follows Config.Source until ctx ends or Close, applying each version
// of the document: one that cannot be read, parsed or applied is reported as
// Refused (and logged at Error) with the settings left as they were; one
// applied is reported as Applied. It returns nil after Close and ctx's error,
// wrapped, when ctx ends; a second Run returns bulwark.ErrRunning, one after
// Close bulwark.ErrClosed. Without a Source it returns an error at once.
func (s *Set) Run(ctx context.Context) error {
	s.check()
	if s.cfg.Source == nil {
		return errors.New("policyset: Run needs Config.Source")
	}
	work, err := s.lc.Begin(ctx)
	if err != nil {
		return err
	}
	defer s.lc.End()
	watch, cancel := context.WithCancel(work)
	defer cancel()
	docs, err := s.cfg.Source.Watch(watch)
	if err != nil {
		return fmt.Errorf("policyset: watching the source: %w", err)
	}
	for {
		select {
		case d, ok := <-docs:
			if !ok {
				return s.ended(ctx)
			}
			s.follow(work, d.Data, d.Version, d.Err)
		case <-s.lc.Stop:
			return nil
		case <-work.Done():
			return s.ended(ctx)
		}
	}
}

func (s *Set) ended(ctx context.Context) error {
	if s.lc.Closed() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("policyset: %w", err)
	}
	return errors.New("policyset: the source stopped")
}

// follow applies one version of the document, reporting the outcome.
func (s *Set) follow(ctx context.Context, data []byte, version string, err error) {
	if err == nil {
		var doc *Document
		if doc, err = Parse(data); err == nil {
			err = s.Apply(doc)
		}
	}
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "policyset: document refused; the settings stay as they were",
			"set", s.cfg.Name, "version", version, "error", err)
		if s.cfg.Observer != nil {
			s.cfg.Observer.Observe(ctx, Refused{Name: s.cfg.Name, Version: version, Err: err})
		}
		return
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer.Observe(ctx, Applied{Name: s.cfg.Name, Version: version})
	}
}

// Close stops Run and waits for it within ctx.
func (s *Set) Close(ctx context.Context) error {
	s.check()
	return s.lc.Close(ctx, "policyset")
}
