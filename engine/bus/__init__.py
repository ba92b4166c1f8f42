"""The message bus: how jetflow reads from and writes to NATS JetStream.

`decode` turns bytes into a schema model or a precise rejection, `publisher` writes events with
deterministic `Nats-Msg-Id`s, `consumer` runs handlers on durable pull consumers with explicit ack,
retry with backoff and dead-lettering, and `deadletter` records what could not be processed.
"""
