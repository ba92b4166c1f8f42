"""The only code that talks to Kubernetes: a small, generic, manifest-driven async client.

Every other feature goes through the `Kube` protocol below, never through `kubernetes` itself:

* `create(manifest) -> bool`: True when created, False when it already exists (409). Names are
  deterministic, so "already exists" means an earlier attempt did it: a replay is harmless.
* `delete(api_version, kind, namespace, name) -> bool`: True when deleted, False when already gone (404).
* `get(...) -> dict | None` (None when absent) and `patch(..., patch) -> dict | None` (a JSON merge
  patch; None when absent).
* `list(api_version, kind, label_selector=...) -> (items, resourceVersion)` and
  `watch(api_version, kind, label_selector=..., resource_version=...)`: the raw watch events
  (`{"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": {...}}`), across all namespaces for
  namespaced kinds; the stream ends when the server closes it, `WatchGone` says "relist".

Kinds are addressed by `apiVersion` + `kind` (table in engine/kube/kinds.py): core objects
(Namespace, ServiceAccount, Secret, Role, RoleBinding, Node, ...) and the Argo Workflow custom
resource alike. Examples for other features:

    await kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": names.storage_secret(s),
                       "namespace": names.namespace(execution)}, "stringData": {...}})   # credentials
    await kube.delete("v1", "Secret", names.namespace(execution), names.storage_secret(s))
    await kube.patch("v1", "Node", None, node, {"spec": {"taints": [...]}})                # throttle

Errors carry their meaning: an invalid object (400, 422) raises `PermanentError`; anything else
(server down, 5xx, 401/403 while RBAC is being fixed, a namespace still terminating) raises
`TemporaryError`, so the message is redelivered.

Two implementations: `ApiKube` (kubernetes.aio, non-blocking: the sync client would block the loop)
and `engine.kube.folder.FolderKube`, which writes manifests to a folder when no cluster is wanted.
`engine.kube.connect.connect(settings)` picks one. `kubernetes` is imported lazily: it costs ~65 MiB.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any, Protocol

from engine.core.errors import PermanentError, TemporaryError
from engine.kube.kinds import NAMESPACE, kind_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

log = logging.getLogger(__name__)

type Manifest = dict[str, Any]
_INVALID = frozenset({400, 422})


class WatchGone(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again, then watch from the list's version."""


class Kube(Protocol):
    async def create(self, manifest: Mapping[str, Any]) -> bool: ...

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool: ...

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Manifest | None: ...

    async def patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, patch: Mapping[str, Any]
    ) -> Manifest | None: ...

    async def list(
        self, api_version: str, kind: str, *, label_selector: str | None = None
    ) -> tuple[list[Manifest], str | None]: ...

    def watch(
        self,
        api_version: str,
        kind: str,
        *,
        label_selector: str | None = None,
        resource_version: str | None = None,
        timeout: float = 300.0,
    ) -> AsyncIterator[Manifest]: ...

    async def close(self) -> None: ...


async def namespace_labels(kube: Kube, name: str) -> dict[str, str] | None:
    """The labels of namespace `name` (empty when it has none), or None when there is no such namespace."""
    found = await kube.get(NAMESPACE.api_version, NAMESPACE.kind, None, name)
    return None if found is None else dict((found.get("metadata") or {}).get("labels") or {})


def describe(manifest: Mapping[str, Any]) -> str:
    meta = manifest.get("metadata", {})
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{manifest.get('kind')} {where}{meta.get('name')}"


def _error(status: int, what: str, body: bytes) -> Exception:
    try:
        message = str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        message = body[:200].decode(errors="replace")
    reason = f"Kubernetes answered {status} to {what}: {message}".rstrip(": ")
    return PermanentError(reason) if status in _INVALID else TemporaryError(reason)


class ApiKube:
    """`Kube` over `kubernetes.aio.client.ApiClient`, one connection pool for every request."""

    def __init__(self, api: Any, *, timeout: float) -> None:
        self._api = api  # kubernetes.aio.client.ApiClient (untyped library, lazily imported)
        self._timeout = timeout

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
        stream: bool = False,
    ) -> Any:
        try:
            verb, url, headers, data, post = await self._api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or None,
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
            )
            response = await self._api.call_api(
                verb, url, headers, data, post, _request_timeout=timeout or self._timeout
            )
            if not stream:
                await response.read()
        except (OSError, TimeoutError) as error:
            raise TemporaryError(
                f"Kubernetes unreachable ({method} {path}): {error or type(error).__name__}"
            ) from error
        except Exception as error:
            # aiohttp's ClientError and the client's ApiException: the server or the link failed.
            if type(error).__module__.startswith(("aiohttp", "kubernetes")):
                raise TemporaryError(f"Kubernetes request {method} {path} failed: {error}") from error
            raise
        return response

    async def create(self, manifest: Mapping[str, Any]) -> bool:
        kind = kind_of(manifest["apiVersion"], manifest["kind"])
        namespace = manifest.get("metadata", {}).get("namespace") if kind.namespaced else None
        if kind.namespaced and not namespace:
            raise PermanentError(f"{describe(manifest)} needs metadata.namespace")
        response = await self._request("POST", kind.path(namespace), body=dict(manifest))
        if response.status == 409:  # Idempotency guard: deterministic name, an earlier attempt created it.
            return False
        if response.status >= 300:
            raise _error(response.status, f"create {describe(manifest)}", response.data)
        return True

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        path = kind_of(api_version, kind).path(namespace, name)
        response = await self._request("DELETE", path, body={"propagationPolicy": "Background"})
        if response.status == 404:  # already gone: the goal is reached
            return False
        if response.status >= 300:
            raise _error(response.status, f"delete {path}", response.data)
        return True

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Manifest | None:
        path = kind_of(api_version, kind).path(namespace, name)
        response = await self._request("GET", path)
        if response.status == 404:
            return None
        if response.status >= 300:
            raise _error(response.status, f"get {path}", response.data)
        result: Manifest = json.loads(response.data)
        return result

    async def patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, patch: Mapping[str, Any]
    ) -> Manifest | None:
        path = kind_of(api_version, kind).path(namespace, name)
        # A JSON merge patch works for custom resources too (strategic merge does not).
        response = await self._request("PATCH", path, body=dict(patch), content_type="application/merge-patch+json")
        if response.status == 404:
            return None
        if response.status >= 300:
            raise _error(response.status, f"patch {path}", response.data)
        result: Manifest = json.loads(response.data)
        return result

    async def list(
        self, api_version: str, kind: str, *, label_selector: str | None = None
    ) -> tuple[list[Manifest], str | None]:
        path = kind_of(api_version, kind).path()
        query = [("labelSelector", label_selector)] if label_selector else None
        response = await self._request("GET", path, query=query)
        if response.status >= 300:
            raise _error(response.status, f"list {path}", response.data)
        body = json.loads(response.data)
        version = body.get("metadata", {}).get("resourceVersion")
        return list(body.get("items") or []), version

    async def watch(
        self,
        api_version: str,
        kind: str,
        *,
        label_selector: str | None = None,
        resource_version: str | None = None,
        timeout: float = 300.0,
    ) -> AsyncIterator[Manifest]:
        path = kind_of(api_version, kind).path()
        # The server ends the watch after timeoutSeconds; the client allows a little more.
        query = [("watch", "true"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", str(int(timeout)))]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if resource_version:
            query.append(("resourceVersion", resource_version))
        response = await self._request("GET", path, query=query, timeout=timeout + 10, stream=True)
        raw = response.response  # the aiohttp response, read line by line
        try:
            if response.status == 410:
                raise WatchGone(path)
            if response.status >= 300:
                raise _error(response.status, f"watch {path}", await raw.read())
            while True:
                try:
                    line = await raw.content.readline()
                except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
                    raise TemporaryError(f"watch {path} broke: {error or type(error).__name__}") from error
                except Exception as error:
                    if type(error).__module__.startswith("aiohttp"):
                        raise TemporaryError(f"watch {path} broke: {error}") from error
                    raise
                if not line:
                    return  # the server closed the stream: the caller resumes from its last version
                if not line.strip():
                    continue
                event: Manifest = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object", {})
                    if status.get("code") == 410:
                        raise WatchGone(str(status.get("message", path)))
                    raise TemporaryError(f"watch {path} error: {status.get('message', status)}")
                yield event
        finally:
            raw.release()

    async def close(self) -> None:
        await self._api.close()
