package rabbitoutbox

import amqp "github.com/rabbitmq/amqp091-go"

// PublisherChannel and PublisherConnection let tests close what p uses.
func PublisherChannel(p *Publisher) *amqp.Channel       { return p.pub.Channel() }
func PublisherConnection(p *Publisher) *amqp.Connection { return p.pub.Connection() }

// PublisherBlocked reports whether the broker blocks p's connection.
func PublisherBlocked(p *Publisher) bool { return p.pub.Blocked() }
