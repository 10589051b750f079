package rabbitoutbox

import amqp "github.com/rabbitmq/amqp091-go"

// PublisherChannel and PublisherConnection let tests close what p uses.
func PublisherChannel(p *Publisher) *amqp.Channel       { return p.pub.Channel() }
func PublisherConnection(p *Publisher) *amqp.Connection { return p.pub.Connection() }
