"""One container template of a workflow, before hera turns it into a model (built by workflow.py and c2d.py)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Template:
    """One container template and its place in the DAG, before hera turns it into a model."""

    name: str
    image: str
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    env_from_secret: str | None = None
    requests: dict[str, str] = field(default_factory=dict)
    gpus: int | None = None
    node: str | None = None
    remote_peer: str | None = None
    depends: list[str] = field(default_factory=list)
    deadline: int | None = None
    data_volume: bool = False
