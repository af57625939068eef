package tracectx

import "go.opentelemetry.io/otel/attribute"

// The span attributes the producer (the enqueue CLI) and the consumer (the
// runner) share. The messaging.* names are OpenTelemetry's messaging
// conventions (the system is asynq: Redis is its store, asynq the protocol
// a consumer must speak); jobrunner.job.type is the runner's own, matching
// its log field.
const (
	AttrMessagingSystem = attribute.Key("messaging.system")
	AttrOperationType   = attribute.Key("messaging.operation.type")
	AttrOperationName   = attribute.Key("messaging.operation.name")
	AttrDestination     = attribute.Key("messaging.destination.name")
	AttrMessageID       = attribute.Key("messaging.message.id")
	AttrType            = attribute.Key("jobrunner.job.type")
)
