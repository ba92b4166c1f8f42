"""The checked-in JSON Schemas must match the models; regenerate with `python -m schemas.export`."""

from pathlib import Path

from schemas import export


def test_checked_in_json_schemas_are_current() -> None:
    assert export.check() == [], "schemas/json is stale: run `uv run python -m schemas.export`"


def test_check_reports_stale_missing_and_extra_files(tmp_path: Path) -> None:
    export.write(tmp_path)
    assert export.check(tmp_path) == []

    (tmp_path / "resource.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "workflow.json").unlink()
    (tmp_path / "old.json").write_text("{}\n", encoding="utf-8")
    assert export.check(tmp_path) == ["missing: workflow.json", "extra: old.json", "stale: resource.json"]
    assert export.main(["--check", "--dir", str(tmp_path)]) == 1

    assert export.main(["--dir", str(tmp_path)]) == 0
    assert export.check(tmp_path) == []
    assert not (tmp_path / "old.json").exists()
