"""`python -m engine.embedded.mongo`: mongoeco's MongoDB wire-protocol server as a child process.

SQLite engine under the state folder by default (data survives restarts and SIGKILL), or memory for
tests. Runs until SIGTERM/SIGINT, then closes the engine so SQLite is left consistent. The engines are
engine/embedded/engines.py's subclasses (no whole-collection scan per insert or transition); `--unpatched`
serves mongoeco's own classes, for benchmarks that compare the two.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from mongoeco.engines.memory import MemoryEngine
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

from engine.embedded.engines import PatchedMemoryEngine, PatchedSQLiteEngine


def open_engine(path: str | None, *, unpatched: bool = False) -> MemoryEngine | SQLiteEngine:
    """SQLite at `path`, or memory when it is None."""
    if path is None:
        return MemoryEngine() if unpatched else PatchedMemoryEngine()
    return SQLiteEngine(path) if unpatched else PatchedSQLiteEngine(path)


async def serve(port: int, path: str | None, *, unpatched: bool = False) -> None:
    engine = open_engine(path, unpatched=unpatched)
    server = AsyncMongoEcoProxyServer(engine=engine, host="127.0.0.1", port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    where = path or "memory"
    print(f"mongoeco ready on 127.0.0.1:{server.address.port} ({where}, {type(engine).__name__})", flush=True)
    await stop.wait()
    await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--path", help="SQLite file")
    where.add_argument("--memory", action="store_true", help="keep data in memory only")
    parser.add_argument(
        "--unpatched", action="store_true", help="mongoeco's own engines, without engine/embedded/engines.py"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.port, None if args.memory else args.path, unpatched=args.unpatched))


if __name__ == "__main__":
    main()
