"""The checked-in JSON Schemas and AsyncAPI document must match the models; regenerate with
`python -m schemas.export`."""

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from schemas import export
from schemas.registry import SCHEMAS, schema_id


def test_checked_in_json_schemas_are_current() -> None:
    assert export.check() == [], "schemas/json or schemas/asyncapi.json is stale: run `uv run python -m schemas.export`"


def test_check_reports_stale_missing_and_extra_files(tmp_path: Path) -> None:
    document = tmp_path / "asyncapi" / "asyncapi.json"
    document.parent.mkdir()
    export.write(tmp_path, document)
    assert export.check(tmp_path, document) == []

    (tmp_path / "resource.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "workflow.json").unlink()
    (tmp_path / "old.json").write_text("{}\n", encoding="utf-8")
    document.write_text("{}\n", encoding="utf-8")
    assert export.check(tmp_path, document) == [
        "stale: asyncapi.json",
        "missing: workflow.json",
        "extra: old.json",
        "stale: resource.json",
    ]
    assert export.main(["--check", "--dir", str(tmp_path), "--asyncapi", str(document)]) == 1
    document.unlink()
    assert export.check(tmp_path, document)[0] == "missing: asyncapi.json"

    assert export.main(["--dir", str(tmp_path), "--asyncapi", str(document)]) == 0
    assert export.check(tmp_path, document) == []
    assert not (tmp_path / "old.json").exists()


def test_every_schema_names_its_dialect_and_id_and_is_a_valid_schema() -> None:
    ids = set()
    for name in SCHEMAS:
        schema = json.loads((export.JSON_DIR / f"{name}.json").read_text(encoding="utf-8"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == schema_id(name)
        Draft202012Validator.check_schema(schema)
        ids.add(schema["$id"])
    assert len(ids) == len(SCHEMAS)


def test_a_schema_validates_a_message_and_refuses_a_bad_one() -> None:
    schema = json.loads((export.JSON_DIR / "booking.cancel.json").read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema)
    assert validator.is_valid({"id": "c-1", "booking": "bk-42"})
    assert not validator.is_valid({"id": "c-1", "booking": "bk-42", "typo": 1})
