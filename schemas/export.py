"""Export every model as JSON Schema into schemas/json/, and the AsyncAPI document, or check they are current.

The JSON files are the contract for systems that do not run Python: the messages, the `jetflow.ctl`
requests (`query.*`) and replies (`reply.*`), each with `$schema` (JSON Schema 2020-12, what pydantic
writes) and `$id` (`urn:jetflow:schema:<name>`, which the micro service's endpoint metadata names), and
schemas/asyncapi.json, the AsyncAPI 3.0.0 document of every channel (schemas/asyncapi.py). They are
generated, checked in, and CI fails when a model changed without a new export:

    python -m schemas.export          # write schemas/json/<name>.json and schemas/asyncapi.json
    python -m schemas.export --check  # exit 1, listing stale, missing and extra files
"""

import argparse
import json
import sys
from pathlib import Path

from schemas import asyncapi
from schemas.registry import SCHEMAS, schema_id

JSON_DIR = Path(__file__).parent / "json"
ASYNCAPI = Path(__file__).parent / "asyncapi.json"
#: The dialect pydantic writes.
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema(name: str) -> dict[str, object]:
    """The JSON Schema of the exported model `name`, with its `$schema` and `$id`."""
    return {"$schema": DIALECT, "$id": schema_id(name), **SCHEMAS[name].model_json_schema(mode="validation")}


def rendered() -> dict[str, str]:
    """File name -> content, for every model in the registry."""
    return {f"{name}.json": json.dumps(schema(name), indent=2, sort_keys=True) + "\n" for name in SCHEMAS}


def check(directory: Path = JSON_DIR, document: Path = ASYNCAPI) -> list[str]:
    """One line per file that differs from what `write` would produce; empty when all are current."""
    expected = rendered()
    present = {path.name for path in directory.glob("*.json")}
    if not document.exists():
        problems = [f"missing: {document.name}"]
    elif document.read_text(encoding="utf-8") != asyncapi.rendered():
        problems = [f"stale: {document.name}"]
    else:
        problems = []
    problems += [f"missing: {name}" for name in sorted(expected.keys() - present)]
    problems += [f"extra: {name}" for name in sorted(present - expected.keys())]
    problems += [
        f"stale: {name}"
        for name in sorted(expected.keys() & present)
        if (directory / name).read_text(encoding="utf-8") != expected[name]
    ]
    return problems


def write(directory: Path = JSON_DIR, document: Path = ASYNCAPI) -> None:
    """Write every schema and the AsyncAPI document, and remove schema files whose model no longer exists."""
    document.write_text(asyncapi.rendered(), encoding="utf-8")
    expected = rendered()
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.json"):
        if path.name not in expected:
            path.unlink()
    for name, text in expected.items():
        (directory / name).write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m schemas.export", description="Export the message models as JSON Schema."
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when the files are not current")
    parser.add_argument("--dir", type=Path, default=JSON_DIR, help="output folder (default: schemas/json)")
    parser.add_argument(
        "--asyncapi", type=Path, default=ASYNCAPI, help="the AsyncAPI document (default: schemas/asyncapi.json)"
    )
    args = parser.parse_args(argv)
    if not args.check:
        write(args.dir, args.asyncapi)
        return 0
    problems = check(args.dir, args.asyncapi)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("run: python -m schemas.export", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
