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
STAGING_SUFFIX = ".part"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; when the block ends without error, it replaces `path`.

    The temporary name starts with a dot and ends in `.part`, so a crash can only leave an obviously
    unfinished hidden file, never a file under the final name.
    """
    path = Path(path)
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=STAGING_SUFFIX)
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


def staging_files(folder: str | Path, final_names: str = "*") -> list[Path]:
    """The temporary files `atomic_path` left in `folder` for final names matching the glob `final_names`: only
    a process killed in the middle of a write (kill -9, a lost machine) leaves one. Whoever owns the folder
    removes them before it writes there again; nobody else may be writing there at that moment."""
    return sorted(p for p in Path(folder).glob(f".{final_names}.*{STAGING_SUFFIX}") if p.is_file())
