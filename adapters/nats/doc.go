// Package nats holds bulwark's NATS JetStream adapters, one subpackage per
// pattern (natsoutbox, natsconsume). It is its own module, so that only
// programs that use NATS depend on nats.go.
package nats
