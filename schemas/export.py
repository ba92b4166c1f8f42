"""Export every message model as JSON Schema into schemas/json/, or check that the files are current.

The JSON files are the contract for systems that do not run Python. They are generated, checked in,
and a test fails when a model changed without a new export:

    python -m schemas.export          # write schemas/json/<name>.json
    python -m schemas.export --check  # exit 1, listing stale, missing and extra files
"""

import argparse
import json
import sys
from pathlib import Path

from schemas.registry import MODELS

JSON_DIR = Path(__file__).parent / "json"


def rendered() -> dict[str, str]:
    """File name -> content, for every model in the registry."""
    return {
        f"{name}.json": json.dumps(model.model_json_schema(mode="validation"), indent=2, sort_keys=True) + "\n"
        for name, model in MODELS.items()
    }


def check(directory: Path = JSON_DIR) -> list[str]:
    """One line per file that differs from what `write` would produce; empty when all are current."""
    expected = rendered()
    present = {path.name for path in directory.glob("*.json")}
    problems = [f"missing: {name}" for name in sorted(expected.keys() - present)]
    problems += [f"extra: {name}" for name in sorted(present - expected.keys())]
    problems += [
        f"stale: {name}"
        for name in sorted(expected.keys() & present)
        if (directory / name).read_text(encoding="utf-8") != expected[name]
    ]
    return problems


def write(directory: Path = JSON_DIR) -> None:
    """Write every schema, and remove schema files whose model no longer exists."""
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
    args = parser.parse_args(argv)
    if not args.check:
        write(args.dir)
        return 0
    problems = check(args.dir)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("run: python -m schemas.export", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
