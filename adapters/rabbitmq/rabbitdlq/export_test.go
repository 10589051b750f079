package rabbitdlq

import amqp "github.com/rabbitmq/amqp091-go"

// SinkConnection lets tests close the connection s uses.
func SinkConnection[T any](s *Sink[T]) *amqp.Connection { return s.pub.Connection() }
