"""The catalog: the resources jetflow books and the workflows it runs, kept current in MongoDB.

Entries arrive as events (`jetflow.resource.upsert`, `jetflow.workflow.upsert`) and are applied in
stream order: each record remembers the stream sequence that wrote it, and an older message
arriving late (another replica, a redelivery) cannot overwrite a newer one.
"""
