"""`python -m engine` is the `jetflow` command."""

from engine.cli import main

main()
