// Package kafka holds bulwark's Apache Kafka adapters, built on franz-go,
// one subpackage per pattern: kafkaoutbox (an outbox.Publisher), kafkadlq
// (a retry.DeadLetterSink) and kafkaconsume (a consume.Source over a
// consumer group). It is its own module, so that only programs that
// use Kafka depend on franz-go. Its tests run against kfake, franz-go's
// in-process fake cluster, and need no broker.
package kafka
