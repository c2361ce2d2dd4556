"""Each server process's temp folder, `sr-app-*`, with a fresh sub-folder per run, and the sweep of the folders
that dead processes left behind (kill -9, SIGTERM, a crash).

Why a lock file: a process holds an flock on `.alive.lock` inside its folder for as long as it lives, and the
kernel drops it when the process dies, however it dies; so a folder whose lock can be taken belongs to nobody.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

try:  # POSIX advisory locks mark the temp folders of live processes; without them (Windows) nothing is swept.
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None

OUTPUT_KEEP_S = 15 * 60  # the app's PNGs are copied into Gradio's cache on return; older run folders are removed
TEMP_PREFIX = "sr-app-"
LOCK_NAME = ".alive.lock"
LEGACY_TEMP_AGE_S = 3600  # a folder without a lock file (made by an older app.py) is swept once this old


class RunFolders:
    """This process's temp folder, `sr-app-*`, with a fresh sub-folder per run.

    Gradio copies returned files into its own cache, so a run folder is only needed until its response is sent;
    run folders older than OUTPUT_KEEP_S are removed when a new run starts. The process holds an flock on
    `.alive.lock` inside its folder for as long as it lives; the kernel drops it when the process dies, however
    it dies (kill -9, SIGTERM, a crash). So at start-up every `sr-app-*` folder whose lock can be taken belongs
    to a dead process and is removed, with the Gradio cache it held (see `use_for_gradio_cache`).
    """

    def __init__(self, base: Path | None = None) -> None:
        self.base = Path(base or os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir())
        self.base.mkdir(parents=True, exist_ok=True)
        self.swept = sweep_dead_folders(self.base)
        self.root = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=self.base))
        self._lock_file = open(self.root / LOCK_NAME, "w")  # noqa: SIM115 - held open for the process's life
        if fcntl is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.runs = self.root / "runs"
        self.runs.mkdir()

    def new(self) -> Path:
        cutoff = time.time() - OUTPUT_KEEP_S
        for old in self.runs.iterdir():
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.runs))

    def use_for_gradio_cache(self) -> None:
        """Point Gradio's upload/result cache into this folder, so the next start-up sweeps what a killed process
        left there too: Gradio's own delete_cache only deletes files of the live app, on schedule and on a clean
        shutdown, never those of a process that was killed."""
        cache = self.root / "gradio"
        cache.mkdir(exist_ok=True)
        os.environ["GRADIO_TEMP_DIR"] = str(cache)


def sweep_dead_folders(base: Path) -> list[Path]:
    """Remove the `sr-app-*` folders under `base` that no live process holds; returns what was removed."""
    if fcntl is None:
        return []
    removed = []
    for folder in base.glob(f"{TEMP_PREFIX}*"):
        lock = folder / LOCK_NAME
        if not folder.is_dir() or (not lock.exists() and time.time() - folder.stat().st_mtime < LEGACY_TEMP_AGE_S):
            continue  # not ours, or another process is between mkdtemp and taking its lock
        if lock.exists() and not _lock_is_free(lock):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _lock_is_free(lock: Path) -> bool:
    with open(lock) as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(probe, fcntl.LOCK_UN)
        return True
