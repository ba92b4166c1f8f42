"""What every feature shares and none owns: the leader lease, background tasks, the clock, the gate port,
`Emit`, errors, store helpers and paging. Nothing here imports a feature, the bus or Kubernetes."""
