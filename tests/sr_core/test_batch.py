"""`python -m sr_core batch`: the contract (exit codes, manifest keys, naming) and its faults: a killed worker, an
interrupted or killed driver, a corrupt image, an output folder that cannot be written or fills up.

One small Ray cluster serves the module (2 CPUs, no dashboard); the CLI runs join it with --address, except the
one test that checks the local Ray a plain run starts. Tiny RCAN, images of at most 96x96."""
from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import ray
from PIL import Image

import sr_core.weights
from sr_core.batch import DEFAULT_WEIGHTS, MANIFEST, MANIFEST_KEYS, UpscalerActor, is_complete, Job
from sr_core.choice import JPEG_SPEC
from sr_core.cli import main
from sr_core.image_io import DEFAULT_MAX_PIXELS
from tests.conftest import save_model, tiny_random_rcan
from tests.sr_core.test_cli import REPO, run_cli

ACTOR_TITLE = "ray::MapWorker(MapBatches(UpscalerActor))"
WAIT_S = 300  # a guard against a hung run on a crowded machine, never a measure of speed


@pytest.fixture(scope="module")
def cluster() -> str:
    """The address of a local Ray with 2 CPUs, shut down (raylet and workers) after the module."""
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, logging_level=logging.ERROR)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def photos(folder: Path, names: list[str], side: int = 24, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (side, side + 4, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def manifest(output: Path) -> list[dict]:
    lines = (output / MANIFEST).read_text().splitlines() if (output / MANIFEST).exists() else []
    return [json.loads(line) for line in lines]


def batch_env() -> dict:
    return {**os.environ, "SR_HUB_REPO": "", "HF_HUB_OFFLINE": "1"}


@pytest.fixture()
def start_batch():
    """Start `python -m sr_core batch ARGS` in the background; whatever is still running at the end is killed."""
    started: list[subprocess.Popen] = []

    def start(*args: str | Path) -> subprocess.Popen:
        started.append(subprocess.Popen([sys.executable, "-m", "sr_core", "batch", *map(str, args)], cwd=REPO,
                                        env=batch_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def batch_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return run_cli("batch", *args, timeout=WAIT_S)


def wait_for_done(output: Path, process: subprocess.Popen, at_least: int = 1) -> int:
    """Wait until the manifest records `at_least` enlarged images; returns how many it records then."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and process.poll() is None:
        done = sum(record["status"] == "done" for record in manifest(output))
        if done >= at_least:
            return done
        time.sleep(0.02)
    if process.poll() is None:
        process.kill()
    raise AssertionError(f"the batch ended or hung before enlarging {at_least} image(s): {process.communicate()}")


def staging_left(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.is_file()]


def test_a_local_run_matches_upscale_and_skips_a_corrupt_image(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """No --address: a local Ray is started and stopped. The corrupt image in the middle fails alone, with one line;
    the structure is kept; OUTPUT_DIR holds the outputs and the manifest only; pixels as `upscale` writes them."""
    source = tmp_path / "in"
    a, b = photos(source, ["a.png", "sub/b.png"])
    Image.fromarray(np.full((16, 20, 4), 90, np.uint8)).save(source / "sub" / "d.png")  # RGBA: alpha kept
    (source / "c.png").write_bytes(a.read_bytes()[:120])  # truncated, sorted between a.png and sub/
    (source / "notes.txt").write_text("not an image, not listed")
    out = source / "enlarged"  # inside INPUT_DIR
    done = batch_cli(source, "-o", out, "--recursive", "--workers", "2", "--weights", tiny_checkpoint)
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: c.png: the image data is damaged or incomplete (image file is truncated)"], done.stderr
    assert f"failed (1):\n  {source / 'c.png'}" in done.stdout
    assert "Traceback" not in done.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "a_x3.png", MANIFEST, "sub/b_x3.png", "sub/d_x3.png"]
    records = manifest(out)
    assert all(tuple(record) == MANIFEST_KEYS for record in records)
    assert {(Path(r["input"]).name, r["status"]) for r in records} == {
        ("a.png", "done"), ("b.png", "done"), ("d.png", "done"), ("c.png", "failed")}

    single = run_cli("upscale", a, b, source / "sub" / "d.png", "-o", tmp_path / "single", "--weights", tiny_checkpoint,
                     timeout=WAIT_S)
    assert single.returncode == 0, single.stderr
    for name, batch_output in [("a", out / "a_x3.png"), ("b", out / "sub/b_x3.png"), ("d", out / "sub/d_x3.png")]:
        with Image.open(batch_output) as ours, Image.open(tmp_path / "single" / f"{name}_x3.png") as theirs:
            assert ours.mode == theirs.mode and ours.size == theirs.size
            gap = np.abs(np.asarray(ours, np.int16) - np.asarray(theirs, np.int16)).max()
            assert gap <= 1, f"{name}: {gap} levels from upscale"


def test_an_interrupted_then_killed_driver_is_finished_by_a_rerun(tmp_path: Path, tiny_checkpoint: Path,
                                                                  cluster: str, start_batch) -> None:
    """Ctrl-C mid-batch, then the same command killed with kill -9 mid-batch, then the same command again: the rest
    is enlarged, nothing done is redone, and the traces of an interrupted write (a staging file, a truncated
    output) are cleaned up or redone."""
    source = tmp_path / "in"
    names = [f"p{i:02d}.png" for i in range(8)]
    photos(source, names, side=96)
    out = source / "enlarged"
    command = (source, "-o", out, "--recursive", "--workers", "1", "--tile", "8", "--address", cluster,
               "--weights", tiny_checkpoint)
    first = start_batch(*command)
    done = wait_for_done(out, first)
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=WAIT_S)
    assert first.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr, stderr
    assert staging_left(out) == []
    wait_until_no_worker()  # a worker of the stopped driver may finish one more image: let it end first

    done = sum(record["status"] == "done" for record in manifest(out))
    second = start_batch(*command)
    wait_for_done(out, second, at_least=done + 1)
    second.kill()
    second.communicate(timeout=WAIT_S)
    wait_until_no_worker()  # a worker of the stopped driver may finish one more image: let it end first
    assert 1 <= len(list(out.glob("*_x3.png"))) < len(names), "the batch should have been stopped mid-way"
    # What a write killed mid-way would leave: a staging file (atomic writes), or a truncated output (a copy tool).
    (out / f".{names[-1][:-4]}_x3.png.k1ll3d00.part").write_bytes(b"\x89PNG partial")
    truncated = out / f"{names[-2][:-4]}_x3.png"
    planted = not truncated.exists()
    if planted:
        truncated.write_bytes(next(out.glob("*_x3.png")).read_bytes()[:500])
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*_x3.png") if not (planted and p == truncated)}
    earlier = len(manifest(out))

    rerun = batch_cli(*command)
    assert rerun.returncode == 0, rerun.stderr
    assert staging_left(out) == [] and "removed 1 unfinished file" in rerun.stderr
    assert sorted(p.name for p in out.glob("*_x3.png")) == sorted(f"{n[:-4]}_x3.png" for n in names)
    assert all(is_complete(Job(source / n, out / f"{n[:-4]}_x3.png"), 3, DEFAULT_MAX_PIXELS) for n in names)
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept  # nothing done is redone
    records = manifest(out)
    assert not any(Path(r["input"]).is_relative_to(out) for r in records)  # outputs are never re-ingested
    done = [Path(r["input"]).name for r in records if r["status"] == "done"]
    assert len(done) == len(set(done))  # no image enlarged twice
    again = {Path(r["input"]).name: r["status"] for r in records[earlier:]}
    assert sorted(again) == names  # the rerun accounts for every image once: skipped if complete, else done
    assert {name for name, status in again.items() if status == "skipped"} == {f"{n[:-7]}.png" for n in kept}


def wait_until_no_worker() -> None:
    deadline = time.monotonic() + WAIT_S
    while actor_pids():
        assert time.monotonic() < deadline, "the stopped batch's workers are still running"
        time.sleep(0.05)


def actor_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if title.startswith(ACTOR_TITLE):
                pids.append(int(entry.name))
    return pids


def test_a_killed_worker_costs_nothing(tmp_path: Path, tiny_checkpoint: Path, cluster: str, start_batch) -> None:
    """kill -9 of the worker mid-batch: Ray restarts it and retries its image (or the rerun finishes the batch);
    every image is written once, complete."""
    source = tmp_path / "in"
    names = [f"p{i:02d}.png" for i in range(8)]
    photos(source, names, side=96)
    out = tmp_path / "out"
    command = (source, "-o", out, "--workers", "1", "--tile", "8", "--address", cluster, "--weights", tiny_checkpoint)
    first = start_batch(*command)
    done_before = wait_for_done(out, first)
    killed = actor_pids()
    assert killed, "no worker process found"
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    _, stderr = first.communicate(timeout=WAIT_S)
    assert done_before < len(names), "the worker should have been killed mid-batch"
    if first.returncode != 0:  # Ray gave up on the image: the rerun must finish it
        assert first.returncode == 1 and "Traceback" not in stderr, stderr
        rerun = batch_cli(*command)
        assert rerun.returncode == 0, rerun.stderr
    assert sorted(Path(r["input"]).name for r in manifest(out) if r["status"] == "done") == names
    assert all(is_complete(Job(source / n, out / f"{n[:-4]}_x3.png"), 3, DEFAULT_MAX_PIXELS) for n in names)
    assert staging_left(out) == []


def test_with_no_weights_named_each_photo_gets_its_model_as_upscale_gives_it(
        tmp_path: Path, cluster: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A PNG and a JPEG of quality 60 in one folder, no --weights: the JPEG goes to the JPEG-aware RCAN and the
    PNG to the clean one, each photo's line says why, and the pixels are `upscale`'s, which chooses the same way."""
    clean, jpeg_aware = (save_model(tiny_random_rcan(seed), tmp_path / f"rcan{seed}.safetensors") for seed in (0, 1))
    monkeypatch.setitem(sr_core.weights.BUNDLED, "bundled", clean)
    monkeypatch.setitem(sr_core.weights.BUNDLED, JPEG_SPEC, jpeg_aware)
    monkeypatch.setenv("SR_HUB_REPO", "")
    monkeypatch.delenv("SR_WEIGHTS", raising=False)
    source = tmp_path / "in"
    (png,) = photos(source, ["a.png"])
    Image.open(png).save(source / "b.jpg", quality=60)
    code = main(["batch", str(source), "-o", str(tmp_path / "out"), "--address", cluster, "--precision", "fp32"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "a.png: not a JPEG" in err and "b.jpg: saved at JPEG quality about 60, so the JPEG-trained RCAN serves" in err

    assert main(["upscale", str(png), str(source / "b.jpg"), "-o", f"{tmp_path / 'single'}/", "--precision", "fp32"]) == 0
    assert main(["upscale", str(source / "b.jpg"), "-o", str(tmp_path / "clean_b.png"), "--weights", "bundled",
                 "--precision", "fp32"]) == 0
    pixels = lambda path: np.asarray(Image.open(path), np.int16)
    for name in ("a", "b"):
        gap = np.abs(pixels(tmp_path / "out" / f"{name}_x3.png") - pixels(tmp_path / "single" / f"{name}_x3.png")).max()
        assert gap <= 1, f"{name}: {gap} levels from upscale"
    assert np.abs(pixels(tmp_path / "out" / "b_x3.png") - pixels(tmp_path / "clean_b.png")).max() > 1  # not the clean one


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["full", "read-only"])
def test_a_failed_write_fails_that_image_alone(code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a worker (called here without Ray): the write of b_x3.png fails after some bytes, as on a full or
    read-only disk. b fails with one line naming the file and the reason; a and c are written; nothing partial."""
    a, b, c = photos(tmp_path / "in", ["a.png", "b.png", "c.png"])
    out = tmp_path / "out"
    real_save = Image.Image.save

    def failing_save(self, fp, *args, **kwargs):
        if ".b_x3.png." in str(fp):
            Path(fp).write_bytes(b"\x89PNG half of it")
            raise OSError(code, os.strerror(code))
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", failing_save)
    worker = UpscalerActor({DEFAULT_WEIGHTS: tiny_random_rcan()}, "cpu", "fp32", 1, None, DEFAULT_MAX_PIXELS)
    rows = worker({"input": np.array([str(a), str(b), str(c)]),
                   "output": np.array([str(out / f"{p.stem}_x3.png") for p in (a, b, c)]),
                   "weights": np.array([DEFAULT_WEIGHTS] * 3), "reason": np.array([""] * 3)})
    assert rows["status"] == ["done", "failed", "done"]
    assert rows["error"][1] == f"b.png: cannot write b_x3.png: [Errno {code}] {os.strerror(code)}"
    assert sorted(p.name for p in out.iterdir()) == ["a_x3.png", "c_x3.png"]  # no b_x3.png, no staging file


def test_an_output_folder_that_cannot_be_made_stops_before_any_work(tmp_path: Path, tiny_checkpoint: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    source = tmp_path / "in"
    photos(source, ["a.png"])
    blocker = tmp_path / "a file"
    blocker.write_text("")
    code = main(["batch", str(source), "-o", str(blocker / "out"), "--weights", str(tiny_checkpoint)])
    err = capsys.readouterr().err
    assert code == 2 and "error: cannot create OUTPUT_DIR" in err and "Not a directory" in err, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_a_read_only_output_folder_stops_before_any_work(tmp_path: Path, tiny_checkpoint: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    photos(source, ["a.png"])
    out.mkdir()
    out.chmod(0o555)
    try:
        code = main(["batch", str(source), "-o", str(out), "--weights", str(tiny_checkpoint)])
    finally:
        out.chmod(0o755)
    assert code == 2 and "Permission denied" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_an_output_that_is_an_input_is_refused_before_any_work(tmp_path: Path, tiny_checkpoint: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    """A hard link in OUTPUT_DIR named as a's output is the input a.png: refused, by identity, before anything."""
    source, out = tmp_path / "in", tmp_path / "out"
    a, _ = photos(source, ["a.png", "b.png"])
    out.mkdir()
    os.link(a, out / "a_x3.png")
    before = a.read_bytes()
    code = main(["batch", str(source), "-o", str(out), "--weights", str(tiny_checkpoint)])
    assert code == 2 and "refusing to overwrite the input" in capsys.readouterr().err
    assert a.read_bytes() == before and sorted(p.name for p in out.iterdir()) == ["a_x3.png"]  # no manifest either


@pytest.mark.parametrize("case, extra, message", [
    ("missing", [], "INPUT_DIR is not a directory"),
    ("same", [], "OUTPUT_DIR is INPUT_DIR"),
    ("empty", [], "no images in"),
    ("tile", ["--tile", "4"], "--tile must be at least 8"),
    ("address", ["--address", "127.0.0.1:1"], "cannot reach the Ray cluster at 127.0.0.1:1"),
])
def test_bad_arguments_exit_2_with_one_line(case: str, extra: list[str], message: str, tmp_path: Path,
                                            tiny_checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    source = tmp_path / "in"
    source.mkdir()
    if case not in ("empty",):
        photos(source, ["a.png"])
    target = {"missing": tmp_path / "nowhere", "same": source}.get(case, source)
    out = source if case == "same" else tmp_path / "out"
    code = main(["batch", str(target), "-o", str(out), "--weights", str(tiny_checkpoint), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.splitlines()[-1].startswith("error: ") and message in err, err
    assert not (tmp_path / "out").exists()


def test_workers_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["batch", str(tmp_path), "-o", str(tmp_path / "out"), "--workers", "0"])
    assert stopped.value.code == 2


def test_without_ray_it_says_how_to_install_it_before_any_work(tmp_path: Path, tiny_checkpoint: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture) -> None:
    source = tmp_path / "in"
    photos(source, ["a.png"])
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code = main(["batch", str(source), "-o", str(tmp_path / "out"), "--weights", str(tiny_checkpoint)])
    assert code == 2 and "pip install -r requirements-batch.txt" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
