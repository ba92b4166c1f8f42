"""The settings groups keep every `JETFLOW_*` variable name, and the README's table lists each one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from engine.settings import ENV, Settings

if TYPE_CHECKING:
    import pytest

README = Path(__file__).parent.parent / "README.md"


def _readme_variables() -> set[str]:
    """Variables in the README's configuration table; `JETFLOW_A_B` / `_C` abbreviates `JETFLOW_A_C`."""
    known = {f"JETFLOW_{name.upper()}" for name in ENV}
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    found: set[str] = set()
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        names = re.findall(r"`(JETFLOW_[A-Z0-9_]+|_[A-Z0-9_]+)`", row.split("|")[1])
        first = names[0]
        found.add(first)
        parts = first.split("_")
        for short in names[1:]:
            if short.startswith("JETFLOW_"):
                found.add(short)
                continue
            # The longest prefix of the first name that makes a variable jetflow reads, else the shortest.
            candidates = ["_".join(parts[:k]) + short for k in range(len(parts) - 1, 0, -1)]
            found.add(next((c for c in candidates if c in known), candidates[-1]))
    return found


def test_every_variable_keeps_its_name_and_the_readme_lists_it() -> None:
    assert {f"JETFLOW_{name.upper()}" for name in ENV} == _readme_variables()


def test_a_variable_sets_its_field_in_its_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JETFLOW_DISPATCH_MAX_RUNNING", "7")
    monkeypatch.setenv("JETFLOW_BACKOFF", "[1, 2]")
    monkeypatch.setenv("JETFLOW_RETENTION", "9000")
    settings = Settings.load(_env_file=None, peer_id="p1")
    assert settings.dispatch.max_running == 7
    assert settings.consumers.backoff == (1.0, 2.0)
    assert settings.retention.keep == 9000
    assert settings.peer.id == "p1"
    assert settings.replace(dispatch_max_running=3).dispatch.max_running == 3
