"""Write files so that a reader sees the old file or the whole new one, never a truncated one.

A full disk (ENOSPC), a file-size limit or a kill in the middle of a write would otherwise leave a partial
`out.png` behind that looks like a result. Writing to a temporary file in the *same folder* and renaming it
with `os.replace` (atomic on POSIX and Windows within one file system) avoids that; on failure the temporary
file is removed and the previous file, if any, is left as it was. Used by the CLI, the app and the report.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _current_umask() -> int:
    """The process umask (os.umask can only be read by setting it; done once, at import)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files 0600; a finished file gets the mode an ordinary open() would have given it.
_FILE_MODE = 0o666 & ~_current_umask()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; when the block ends without error, it replaces `path`.

    The temporary name starts with a dot and ends in `.part`, so a crash can only leave an obviously
    unfinished hidden file, never a file under the final name.
    """
    path = Path(path)
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    staging_path = Path(staging)
    try:
        yield staging_path
        os.chmod(staging_path, _FILE_MODE)
        os.replace(staging_path, path)
    except BaseException:
        staging_path.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    with atomic_path(path) as staging:
        staging.write_text(text, encoding=encoding)
