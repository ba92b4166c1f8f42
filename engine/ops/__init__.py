"""Operator commands that speak NATS: `jetflow status`, `bookings`, `executions`, `schedule`, `throttle`,
`dlq`, `publish`, `apply` (engine/ops/commands.py), over `jetflow.ctl` (engine/ops/client.py)."""
