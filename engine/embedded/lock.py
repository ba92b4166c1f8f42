"""One `jetflow up` per state folder.

Two `up`s on one folder would share (and adopt) the same embedded servers, and whichever stopped
first would stop them under the other. An exclusive `flock` on `<state dir>/up.lock` prevents it; the
kernel releases it when its holder exits, even by SIGKILL, so a crash never leaves the folder locked.
"""

from __future__ import annotations

import fcntl
import os
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def hold_folder(state_dir: Path) -> IO[str]:
    """Lock `state_dir` for this process (keep the returned file open), or raise naming the holder."""
    handle = (state_dir / "up.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        raise RuntimeError(
            f"state folder {state_dir} is in use by another `jetflow up` (pid {owner}); "
            "stop it, or choose another --state-dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
