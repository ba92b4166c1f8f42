"""Kubernetes names derived from ids: valid, deterministic, and distinct for distinct ids."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.kube import names
from schemas.base import ID_PATTERN

IDS = st.from_regex(ID_PATTERN, fullmatch=True)
DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"


def test_a_valid_id_is_kept_readable() -> None:
    assert names.namespace("bk-42-20261201t100000") == "jf-bk-42-20261201t100000"
    assert names.storage_secret("minio-b") == "s3-minio-b"


def test_an_invalid_id_is_folded_with_a_hash() -> None:
    folded = names.namespace("BK_42:x")
    assert folded.startswith("jf-bk-42-x-")
    assert folded != names.namespace("bk_42:x")


@given(IDS)
def test_every_id_gives_a_valid_label(execution: str) -> None:
    import re

    name = names.namespace(execution)
    assert re.fullmatch(DNS_LABEL, name), name
    assert len(name) <= names.LABEL_MAX
    assert name == names.namespace(execution)


@given(IDS, IDS)
def test_distinct_ids_give_distinct_names(first: str, second: str) -> None:
    if first != second:
        assert names.namespace(first) != names.namespace(second)
