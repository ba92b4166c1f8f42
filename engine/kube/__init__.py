"""Kubernetes: the names jetflow gives its objects, and (later) the only code that talks to the API."""
