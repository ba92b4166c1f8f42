"""The whole bad-input corpus (tests/corpus/) against one engine, with valid bookings in between: every
bad input gets its documented answer, and every valid booking is confirmed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from tests.corpus.bad_inputs import corpus
from tests.corpus.drive import drive, prepare

if TYPE_CHECKING:
    from pathlib import Path

    from nats.aio.client import Client

    from engine.settings import Settings
    from tests.support.engines import Engines


@pytest.mark.timeout(180)
async def test_every_bad_input_of_the_corpus_gets_its_documented_answer(
    engines: Engines, settings: Settings, client: Client, tmp_path: Path
) -> None:
    # Manifests to a folder: dispatch runs, so its subjects (execution.due, namespace.prepare) are consumed too.
    await engines.start(settings.replace(manifests_dir=str(tmp_path / "manifests")))
    now = datetime.now(UTC)
    await prepare(client, now)
    cases = corpus(now, settings.nats.max_payload)
    assert len({case.name for case in cases}) == len(cases) >= 100
    report = await drive(client, cases, now, max_payload=settings.nats.max_payload)
    failures = report.summary() + "\n" + report.failures()
    assert report.unanswered == [], failures
    assert report.wrong == [], failures
    assert report.unconfirmed == [], failures
