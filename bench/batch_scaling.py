"""Images per second and CPU use of `python -m sr_core batch` (local Ray, 1 and 2 workers) against the one-process
`python -m sr_core upscale` loop, on the same 64 photos of 256x256; prints each as a ratio to the loop.

    python bench/batch_scaling.py [--images 64] [--side 256] [--weights bundled] [--workers 1 2]

The photos are crops of the five example photos (bicubic-enlarged to 320 px, then cropped and flipped 64 ways),
so the content is photographic; the model is the bundled RCAN unless --weights says otherwise. Each run starts
from an empty output folder; `batch` runs include starting a local Ray and its workers ("end to end") and, apart,
the rate between the first and the last image written ("steady"). CPU use is the CPU time of the command and all
its descendants (Ray's workers included, read from /proc) over wall time x CPUs; the load average before and after is
printed because other jobs on the machine change every figure.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.png"))


def make_photos(folder: Path, count: int, side: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    big = side + 64
    sources = [Image.open(path).convert("RGB").resize((big, big), Image.Resampling.BICUBIC) for path in EXAMPLES]
    paths = []
    for i in range(count):
        x, y = (i * 7) % 64, (i * 13) % 64
        crop = np.asarray(sources[i % len(sources)].crop((x, y, x + side, y + side)))
        crop = crop[:, ::-1] if i & 1 else crop
        crop = crop[::-1] if i & 2 else crop
        path = folder / f"photo{i:03d}.png"
        Image.fromarray(np.ascontiguousarray(crop)).save(path)
        paths.append(path)
    return paths


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(root: int, seen: dict[int, float]) -> None:
    """Record in `seen` the CPU seconds (user + system) so far of `root` and every process below it. Ray's workers
    are children of its raylet, which does not reap them into our getrusage, hence the walk over /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) * TICK_S  # utime, stime
    tree, grown = {root}, True
    while grown:
        below = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= below
        grown = bool(below)
    for pid in tree & times.keys():
        seen[pid] = max(seen.get(pid, 0.0), times[pid])


def run(command: list[str], output: Path, count: int) -> dict:
    """Run `command`; the times at which outputs appeared give the steady rate, the process tree its CPU time
    (sampled every 0.1 s: a process that ends loses at most its last 0.1 s)."""
    env = {**os.environ, "SR_HUB_REPO": "", "HF_HUB_OFFLINE": "1"}
    seen: list[float] = []
    cpu_by_pid: dict[int, float] = {}
    finished = threading.Event()
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def watch() -> None:  # 0.1 s resolution, far below a 256x256 image's time
        while not finished.is_set():
            written = len(list(output.rglob("*_x3.png"))) if output.exists() else 0
            seen.extend([time.perf_counter()] * (written - len(seen)))
            tree_cpu_s(process.pid, cpu_by_pid)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, stderr = process.communicate()
    wall = time.perf_counter() - started
    finished.set()
    watcher.join()
    cpu = sum(cpu_by_pid.values())
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {stderr[-2000:]}")
    written = len(list(output.rglob("*_x3.png")))
    if written != count:
        raise SystemExit(f"{' '.join(command)} wrote {written} of {count} images")
    steady = (len(seen) - 1) / (seen[-1] - seen[0]) if len(seen) > 1 and seen[-1] > seen[0] else float("nan")
    return {"wall": wall, "rate": count / wall, "steady": steady, "cpu": cpu / (wall * (os.cpu_count() or 1))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--weights", default="bundled")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="batch-bench-") as work:
        work = Path(work)
        photos = make_photos(work / "in", args.images, args.side)
        load_before = os.getloadavg()
        python = [sys.executable, "-m", "sr_core"]
        rows = [("upscale loop (one process)",
                 run([*python, "upscale", *map(str, photos), "-o", str(work / "loop"), "--weights", args.weights],
                     work / "loop", args.images))]
        for workers in args.workers:
            out = work / f"batch{workers}"
            rows.append((f"batch --workers {workers} (local Ray)",
                         run([*python, "batch", str(work / "in"), "-o", str(out), "--workers", str(workers),
                              "--weights", args.weights], out, args.images)))
        load_after = os.getloadavg()

    base = rows[0][1]
    print(f"{args.images} photos of {args.side}x{args.side}, weights {args.weights}; {cpu_model()}, "
          f"{os.cpu_count()} CPUs; load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (1 min)")
    print("| run | wall s | images/s end to end | vs loop | images/s steady | vs loop | CPU use |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['wall']:.1f} | {r['rate']:.2f} | x{r['rate'] / base['rate']:.2f} | "
              f"{r['steady']:.2f} | x{r['steady'] / base['steady']:.2f} | {100 * r['cpu']:.0f}% |")


if __name__ == "__main__":
    main()
