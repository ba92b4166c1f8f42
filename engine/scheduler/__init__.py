"""The scheduler: executions in state `scheduled` become `due` at their time, once, across replicas.

MongoDB is the source of truth. One replica at a time (the holder of a lease in NATS KV) loads the
executions planned within a horizon into APScheduler's in-memory job store and fires them; the
others stand by. A fire is a compare-and-set `scheduled → due` plus a `jetflow.execution.due` event
whose `Nats-Msg-Id` is derived from the execution id, so even two leaders fire an execution once.
"""
