"""Dispatch: due executions become Argo Workflows in their own namespace, followed by one watcher.

Pure builders (plan.py, access.py, workflow.py, c2d.py, manifests.py) turn values into manifests;
service.py creates them through engine.kube and keeps the limits; watch.py follows every workflow.
"""
