"""Storage credentials: scoped, expiring S3 keys issued by the storage's peer and delivered as a
Kubernetes Secret by the compute's peer, with only references and sealed blobs crossing NATS."""
