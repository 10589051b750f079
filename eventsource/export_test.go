package eventsource

// HoldAppend decides an append as Append does and keeps it open, holding
// off other appends, until finish publishes it (commit) or drops it: the
// memory store's equivalent of an open transaction, for the gap-safety
// test of the conformance suite.
func (s *MemoryStore) HoldAppend(streamID string, expected ExpectedVersion, events ...EventData) (finish func(commit bool) error, err error) {
	if err := CheckAppend(streamID, expected, events); err != nil {
		return nil, err
	}
	s.wmu.Lock()
	_, prepared, err := s.prepare(streamID, expected, events)
	if err != nil {
		s.wmu.Unlock()
		return nil, err
	}
	return func(commit bool) error {
		defer s.wmu.Unlock()
		if commit && len(prepared) > 0 {
			s.publish(streamID, prepared)
		}
		return nil
	}, nil
}
