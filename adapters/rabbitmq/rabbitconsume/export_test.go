package rabbitconsume

import amqp "github.com/rabbitmq/amqp091-go"

// SourceConnection returns the connection s consumes on (nil before the
// first Receive), for tests that close it underneath.
func SourceConnection(s *Source) *amqp.Connection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// SourceChannel returns the channel s consumes on, nil when it has none.
func SourceChannel(s *Source) *amqp.Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil
	}
	return s.sess.ch
}
