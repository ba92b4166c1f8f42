"""Kubernetes: the names jetflow gives its objects (names.py) and the only code that talks to the API.

`client.Kube` is the port every feature uses (create / delete / get / patch / list / watch, by
manifest); `connect.connect(settings)` returns the cluster client (`client.ApiKube`, kubernetes.aio)
or the manifests folder (`folder.FolderKube`).
"""
