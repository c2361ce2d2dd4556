"""`python -m sr_core batch INPUT_DIR -o OUTPUT_DIR`: enlarge a whole folder (an archive) on Ray Data.

Why Ray Data: a callable class passed to `Dataset.map_batches` becomes a stateful actor that loads the model once,
`concurrency` sets how many, `num_cpus` / `num_gpus` what each holds, and the same code runs on a laptop
(`ray.init()`) and on a cluster (`ray.init(address=...)`). This is the only module of the project that imports
`ray` (lazily, so `sr_core` imports without it; `requirements-batch.txt`).

The guarantees are `upscale`'s: every planned output is checked against every input by identity before any work
(`sr_core.files.refuse_overwriting_inputs`), outputs are named as `upscale` names them (`<name>_x3.png`, the folder
structure kept under OUTPUT_DIR) and written atomically (`sr_core.atomic`) by the worker that enlarged them, a bad
image fails alone with one line, the pixel limit and the weights choice are the same: with no weights named, each
photo gets the RCAN for how it was saved (`sr_core.choice`), and the JPEG-aware one loads only when a JPEG needs it.

Resume: the outputs themselves are the record of what is done. An output that exists and is complete (its PNG
header has the input's size x3 and the file ends with the IEND chunk) is skipped; the atomic writes mean that a
file under its final name is always complete, and the only trace an interrupted run can leave, a hidden
`.<name>_x3.png.*.part` staging file, is removed when the next run starts (and when an interrupted run exits).
`manifest.jsonl` is the log for people and tools: one JSON line per image per run, appended.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sr_core.atomic import staging_files
from sr_core.files import UsageError, enlarge_file, output_name, refuse_overwriting_inputs, stderr
from sr_core.errors import first_line

try:  # an advisory lock on the manifest keeps two runs out of one OUTPUT_DIR (they would sweep each other's files)
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None

if TYPE_CHECKING:
    from sr_core.weights import LoadedWeights

MANIFEST = "manifest.jsonl"
MANIFEST_KEYS = ("input", "output", "status", "seconds", "error")
DONE, SKIPPED, FAILED = "done", "skipped", "failed"
# Ray Data blocks: one image per block, so progress, retries and interrupts are per image, up to this many blocks
# (beyond it a block holds several images; 100,000 one-row blocks would cost more bookkeeping than they save).
MAX_BLOCKS = 10_000
PROGRESS_EVERY_S = 1.0
LISTED_FAILURES = 20  # failed inputs named in the summary; the manifest has them all
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the last 12 bytes of every complete PNG
DEFAULT_WEIGHTS = ""  # the models' key for the weights the run loaded first (named, or the usual default)


@dataclass
class Job:
    src: Path
    dst: Path
    weights: str = DEFAULT_WEIGHTS  # the key of the model that enlarges it (UpscalerActor's `models`)
    reason: str = ""  # why that model, for the photo's line on stderr; empty when the weights were named


def readable_suffixes() -> set[str]:
    """File extensions of the formats Pillow can open (.png, .jpg, .webp, .tif, ...), lower case."""
    from PIL import Image

    Image.init()
    return {ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def list_images(input_dir: Path, output_dir: Path, recursive: bool) -> list[Path]:
    """The image files of `input_dir` (and its sub-folders with `recursive`), sorted, by extension. Hidden files
    and folders are left out, and so is OUTPUT_DIR when it lies inside INPUT_DIR: outputs are never re-ingested."""
    suffixes = readable_suffixes()
    skip = _identity(output_dir)

    def wanted(path: Path) -> bool:
        return not path.name.startswith(".") and path.suffix.lower() in suffixes and path.is_file()

    if not recursive:
        return [p for p in sorted(input_dir.iterdir()) if wanted(p)]
    found = []
    for root, dirs, files in os.walk(input_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and _identity(Path(root, d)) != skip)
        found += [Path(root, name) for name in sorted(files) if wanted(Path(root, name))]
    return found


def plan(input_dir: Path, output_dir: Path, recursive: bool, scale: int) -> tuple[list[Job], list[tuple[Job, str]]]:
    """(jobs, collisions): each image and its output under OUTPUT_DIR; images that would share an output with
    another (a.jpg and a.png in one folder) come back as collisions, with the reason, and are not enlarged.
    Refuses (UsageError) any planned output that is an input, before any work."""
    inputs = list_images(input_dir, output_dir, recursive)
    jobs = [Job(src, output_dir / src.relative_to(input_dir).parent / output_name(src, scale)) for src in inputs]
    refuse_overwriting_inputs(inputs, [job.dst for job in jobs])
    by_output: dict[Path, list[Job]] = {}
    for job in jobs:
        by_output.setdefault(job.dst, []).append(job)
    collisions = []
    for dst, sharing in by_output.items():
        if len(sharing) > 1:
            names = " and ".join(job.src.name for job in sharing)
            collisions += [(job, f"{job.src.name}: {names} would both be written to {dst.name}; rename one")
                           for job in sharing]
    clashing = {id(job) for job, _ in collisions}
    return [job for job in jobs if id(job) not in clashing], collisions


def is_complete(job: Job, scale: int, max_pixels: int) -> bool:
    """The output exists, ends like a complete PNG and has the input's size (EXIF rotation applied) times the
    scale. Headers only: no pixel is decoded."""
    from PIL import Image

    from sr_core.image_io import DECODE_ERRORS, ImageError, image_size

    try:
        with open(job.dst, "rb") as out:
            out.seek(-len(_PNG_END), os.SEEK_END)
            if out.read() != _PNG_END:
                return False
        with Image.open(job.dst) as image:
            made = image.size
        width, height = image_size(job.src, max_pixels=max_pixels)
    except (ImageError, *DECODE_ERRORS):  # OSError covers a missing output and one shorter than 12 bytes
        return False
    return made == (width * scale, height * scale)


class Manifest:
    """OUTPUT_DIR/manifest.jsonl, appended one line per image (one `write` each, so a kill cannot tear a line),
    and locked for as long as this run holds it. A failed append (a full disk) warns once: the outputs, not the
    manifest, decide what a rerun skips."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {first_line(exc)}") from exc
        if fcntl is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(self.fd)
                raise UsageError(f"another batch is writing into {path.parent} (it holds {path.name})") from None
        size = os.fstat(self.fd).st_size
        self.broken = False
        if size and os.pread(self.fd, 1, size - 1) != b"\n":  # a line left unfinished by some other writer
            self._write(b"\n")

    def _write(self, data: bytes) -> None:
        try:
            os.write(self.fd, data)
        except OSError as exc:
            if not self.broken:
                stderr(f"warning: cannot append to {self.path}: {first_line(exc)}; the outputs still say what is done")
            self.broken = True

    def add(self, src: Path, dst: Path, status: str, seconds: float = 0.0, error: str | None = None) -> None:
        record = dict(zip(MANIFEST_KEYS, (str(src), str(dst), status, round(seconds, 3), error)))
        self._write((json.dumps(record) + "\n").encode("utf-8"))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.fsync(self.fd)
        os.close(self.fd)


def remove_staging_files(output_dir: Path, scale: int) -> int:
    """Remove the `.<name>_x3.png.*.part` files an interrupted run left anywhere under OUTPUT_DIR."""
    removed = 0
    if not output_dir.is_dir():
        return removed
    for folder in [output_dir, *(p for p in output_dir.rglob("*") if p.is_dir())]:
        for staging in staging_files(folder, f"*_x{scale}.png"):
            with contextlib.suppress(FileNotFoundError):
                staging.unlink()
                removed += 1
    return removed


class UpscalerActor:
    """One per worker (a Ray actor, through `Dataset.map_batches`): the engines are built once, one per model, then
    each batch of rows {input, output, weights, reason} is enlarged by the model its `weights` names and written, and
    comes back as rows {input, output, status, seconds, error, notes}. Nothing an image does (bad data, too large, a
    failed write) escapes as an exception: that would stop the whole dataset."""

    def __init__(self, models: dict, device: str, precision: str, threads: int | None, tile: int | None,
                 max_pixels: int) -> None:
        import torch

        from sr_core.engine import Upscaler

        if device == "cpu" and threads:
            torch.set_num_threads(threads)  # the CPUs are split between the actors, not contended
        self.upscalers = {key: Upscaler(model, device, precision) for key, model in models.items()}
        for upscaler in self.upscalers.values():
            upscaler.threads = threads if device == "cpu" else None
        self.tile, self.max_pixels = tile, max_pixels

    def __call__(self, batch: dict) -> dict:
        rows: dict[str, list] = {key: [] for key in (*MANIFEST_KEYS, "notes")}
        for src, dst, weights, reason in zip(batch["input"], batch["output"], batch["weights"], batch["reason"]):
            job = Job(Path(str(src)), Path(str(dst)), str(weights), str(reason))
            for key, value in self.enlarge(job).items():
                rows[key].append(value)
        return rows

    def enlarge(self, job: Job) -> dict:
        started = time.perf_counter()
        notes: list[str] = [f"{job.src.name}: {job.reason}"] if job.reason else []
        status, error = DONE, None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the image's remarks come back in `notes`
                enlarge_file(self.upscalers[job.weights], job.src, job.dst, self.max_pixels, self.tile,
                             note=notes.append)
        except Exception as exc:  # noqa: BLE001 - one image fails alone, whatever it raised
            status, error = FAILED, first_line(exc)
            if job.src.name not in error:
                error = f"{job.src.name}: {error}"
        return {"input": str(job.src), "output": str(job.dst), "status": status,
                "seconds": time.perf_counter() - started, "error": error, "notes": "\n".join(notes)}


@dataclass
class Placement:
    device: str
    workers: int
    num_cpus: float
    num_gpus: float
    threads: int | None

    def describe(self) -> str:
        if self.device == "cuda":
            return f"{self.workers} worker(s), one GPU each"
        return f"{self.workers} worker(s), {self.threads} CPU thread(s) each"


def place_workers(resources: dict, nodes: list[dict], workers: int | None, device: str | None) -> Placement:
    """How many actors and what each holds: one per GPU on GPUs; on CPUs the cluster's CPUs split between them
    (default: one per machine). Refuses what the cluster cannot run."""
    gpus = int(resources.get("GPU", 0))
    cpus = float(resources.get("CPU", 1))
    device = device or ("cuda" if gpus else "cpu")
    if device == "cuda":
        if not gpus:
            raise UsageError("--device cuda: the Ray cluster has no GPU (use --device cpu, or leave it out)")
        workers = workers or gpus
        if workers > gpus:
            raise UsageError(f"--workers {workers}: the Ray cluster has {gpus} GPU(s), one per worker")
        return Placement("cuda", workers, 1.0, 1.0, None)
    node_cpus = [float(node.get("Resources", {}).get("CPU", 0)) for node in nodes if node.get("Alive")]
    workers = workers or max(1, len(node_cpus))
    share = min(cpus / workers, max(node_cpus, default=cpus))
    return Placement("cpu", workers, share, 0.0, max(1, int(share)))


def import_ray():
    """The `ray` module with Ray Data, or a UsageError saying how to install it (checked before any work)."""
    try:
        import ray
        import ray.data  # noqa: F401 - ray.data.DataContext, ray.data.from_items
    except ImportError:
        raise UsageError("batch needs Ray Data: pip install -r requirements-batch.txt") from None
    return ray


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A HOST:PORT address must answer a TCP connection: Ray itself retries a wrong one for minutes. Other forms
    ("auto", "ray://...") are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise UsageError(f"cannot reach the Ray cluster at {address}: {first_line(exc)} "
                         "(is `ray start --head` running there?)") from exc


def start_ray(address: str | None):
    """Join the cluster at `address`, or start a local Ray; returns the module and whether we started it."""
    ray = import_ray()
    if ray.is_initialized():  # a caller that already holds a connection (a test, a notebook)
        return ray, False
    try:
        ray.init(address=address or "local", include_dashboard=False if not address else None,
                 logging_level=logging.ERROR, log_to_driver=True, configure_logging=True)
    except Exception as exc:  # noqa: BLE001 - Ray raises plain Exception too (a node that timed out starting)
        raise UsageError(f"cannot {'join the Ray cluster at ' + address if address else 'start Ray'}: "
                         f"{first_line(exc)}") from exc
    return ray, True


class Progress:
    """Counts, rate and ETA on stderr, at most once a second (and at the last image)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.started = time.perf_counter()
        self.last = 0.0

    def add(self, status: str) -> None:
        if status == DONE:
            self.done += 1
        else:
            self.failed += 1
        now = time.perf_counter()
        if now - self.last >= PROGRESS_EVERY_S or self.done + self.failed == self.total:
            self.last = now
            finished = self.done + self.failed
            rate = self.rate()
            eta = f"{(self.total - finished) / rate:.0f}s" if rate else "?"
            stderr(f"batch: {finished}/{self.total} ({self.failed} failed), {rate:.2f} images/s, ETA {eta}")

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.started
        return (self.done + self.failed) / elapsed if elapsed > 0 else 0.0


def models_by_photo(jobs: list[Job], first: LoadedWeights, args) -> dict:
    """With no weights named, each job gets the RCAN for how its photo was saved (`sr_core.choice`, as `upscale`
    chooses); the other weights load only if some photo needs them. Returns the models by key for the actors."""
    from sr_core.choice import choose, weights_named_by_server
    from sr_core.jpeg import file_quality
    from sr_core.weights import load_weights

    models = {DEFAULT_WEIGHTS: first.model}
    if args.weights is not None or weights_named_by_server():
        return models
    for job in jobs:
        choice = choose(file_quality(job.src))
        job.weights, job.reason = choice.spec or DEFAULT_WEIGHTS, choice.reason
        if job.weights not in models:
            loaded = load_weights(choice.spec, args.hub_repo, args.hub_file, args.hub_revision)
            stderr(f"weights: {loaded.describe()}")
            if loaded.model.scale != first.model.scale:  # outputs are named and checked by one scale
                raise UsageError(f"{choice.spec} enlarges x{loaded.model.scale}, the other weights "
                                 f"x{first.model.scale}; name one with --weights")
            models[job.weights] = loaded.model
    return models


def run_batch(args) -> int:
    from sr_core.weights import load_weights

    input_dir, output_dir = Path(args.input_dir).absolute(), Path(args.output).absolute()
    if not input_dir.is_dir():
        raise UsageError(f"INPUT_DIR is not a directory: {args.input_dir}")
    if _identity(output_dir) == _identity(input_dir):
        raise UsageError("OUTPUT_DIR is INPUT_DIR; write the enlargements into another folder (it may lie inside)")
    if args.tile is not None and args.tile < 8:
        raise UsageError(f"--tile must be at least 8 pixels, got {args.tile}")
    import_ray()
    if args.address:
        check_reachable(args.address)
    loaded = load_weights(args.weights, args.hub_repo, args.hub_file, args.hub_revision)
    stderr(f"weights: {loaded.describe()}")
    scale = loaded.model.scale
    jobs, collisions = plan(input_dir, output_dir, args.recursive, scale)  # refused before anything is written
    if not jobs and not collisions:
        hint = "" if args.recursive else " (sub-folders are read with --recursive)"
        raise UsageError(f"no images in {args.input_dir}{hint}")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create OUTPUT_DIR {args.output}: {first_line(exc)}") from exc
    manifest = Manifest(output_dir / MANIFEST)  # locked: from here on this run owns OUTPUT_DIR
    failed: list[str] = []
    try:
        removed = remove_staging_files(output_dir, scale)
        if removed:
            stderr(f"removed {removed} unfinished file(s) an interrupted run left in {args.output}")
        for job, reason in collisions:
            failed.append(str(job.src))
            manifest.add(job.src, job.dst, FAILED, error=reason)
            stderr(f"error: {reason}")
        todo = []
        for job in jobs:
            if is_complete(job, scale, args.max_pixels):
                manifest.add(job.src, job.dst, SKIPPED)
            else:
                todo.append(job)
        skipped = len(jobs) - len(todo)
        stderr(f"batch: {len(jobs) + len(collisions)} images, {skipped} already done, {len(todo)} to enlarge")
        progress = Progress(len(todo))
        if todo:
            enlarge_on_ray(args, models_by_photo(todo, loaded, args), todo, manifest, progress, failed)
    finally:
        manifest.close()
    summary = (f"batch: {progress.done} enlarged, {skipped} already done, {len(failed)} failed, in "
               f"{time.perf_counter() - progress.started:.1f}s ({progress.rate():.2f} images/s); {manifest.path}")
    print(summary, flush=True)
    if failed:
        print(f"failed ({len(failed)}):")
        for name in failed[:LISTED_FAILURES]:
            print(f"  {name}")
        if len(failed) > LISTED_FAILURES:
            print(f"  ... and {len(failed) - LISTED_FAILURES} more (status \"failed\" in {MANIFEST})")
    return 1 if failed else 0


def enlarge_on_ray(args, models: dict, todo: list[Job], manifest: Manifest, progress: Progress,
                   failed: list[str]) -> None:
    """Run `todo` on Ray Data, recording each result as it arrives; an image whose worker died on every try is
    failed. On an interrupt, the Ray this run started is stopped and the staging files it left are removed."""
    ray, started = start_ray(args.address)
    try:
        workers = min(args.workers, len(todo)) if args.workers else None
        placement = place_workers(ray.cluster_resources(), ray.nodes(), workers, args.device)
        stderr(f"ray: {'joined ' + args.address if args.address else 'local'}, {placement.describe()}")
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours counts images, not blocks
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # its plan and timings; errors still show
        context.max_errored_blocks = -1  # a block that fails anyway is reported as failed images, not fatal
        items = [{"input": str(job.src), "output": str(job.dst), "weights": job.weights, "reason": job.reason}
                 for job in todo]
        # Ray Data's actors are restarted, and their unfinished batches retried, whenever they die (its defaults:
        # max_restarts=-1, max_task_retries=-1): a killed worker costs its image a second try, nothing more.
        dataset = ray.data.from_items(items, override_num_blocks=min(len(items), MAX_BLOCKS)).map_batches(
            UpscalerActor, batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=placement.workers),
            num_cpus=placement.num_cpus, num_gpus=placement.num_gpus,
            fn_constructor_kwargs=dict(models=models, device=placement.device, precision=args.precision,
                                       threads=placement.threads, tile=args.tile, max_pixels=args.max_pixels))
        pending = {str(job.src): job for job in todo}
        try:
            rows = dataset.iter_rows()
            for row in rows:
                record(row, pending, manifest, progress, failed)
        except Exception as exc:  # noqa: BLE001 - Ray gave up (a lost cluster): what is left is failed, not lost
            reason = f"ray: {first_line(exc)}"
            stderr(f"error: {reason}")
        else:
            reason = "no result came back from its worker"
        for job in pending.values():
            error = f"{job.src.name}: {reason}"
            manifest.add(job.src, job.dst, FAILED, error=error)
            failed.append(str(job.src))
            stderr(f"error: {error}")
            progress.add(FAILED)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            stderr(f"batch: interrupted after {progress.done} of {progress.total}; the same command finishes the rest")
        if started:
            ray.shutdown()
            started = False
        remove_staging_files(Path(args.output).absolute(), models[DEFAULT_WEIGHTS].scale)
        raise
    finally:
        if started:
            ray.shutdown()


def record(row: dict, pending: dict[str, Job], manifest: Manifest, progress: Progress, failed: list[str]) -> None:
    """One result from a worker: its notes and error on stderr, a manifest line, the counts."""
    job = pending.pop(str(row["input"]), None)
    if job is None:  # a retried block can deliver an image twice
        return
    for note in filter(None, str(row["notes"] or "").split("\n")):
        stderr(note)
    manifest.add(job.src, job.dst, row["status"], float(row["seconds"]), row["error"] or None)
    if row["status"] != DONE:
        failed.append(str(job.src))
        stderr(f"error: {row['error']}")
    progress.add(row["status"])
