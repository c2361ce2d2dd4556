"""Model runs in the app: how a run learns that nobody waits for it any more, how its failures reach the visitor
as one line, the one queue every run waits in, and the progress bar it drives.

One rule holds every model run together: a handler that runs a model is a `model_run`. It runs inside
`sr_core.tiling.stops_on(flag)`, so every pass it makes (the engine's tiled forward, and any other forward pass,
checked between two modules) stops once its request is cancelled, its tab is closed, or Stop is pressed; and it
is queued under the app's one concurrency limit (`model_queue`; `queue_options` closes the direct REST routes
that would skip the queue).
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import gradio as gr
import torch
from gradio.context import LocalContext

from sr_core.errors import UserError, WeightsError
from sr_core.estimate import format_duration
from sr_core.tiling import Cancelled, Progress, stops_on

log = logging.getLogger("sr_app")

QUEUE_SIZE = 16  # waiting requests beyond this get Gradio's "This application is currently busy" message
MODEL_CONCURRENCY = 1  # model runs share the CPU/GPU; two at once would each take twice as long


def run_abandoned() -> bool:
    """True once nobody waits for the current event's result any more.

    Gradio 6 abandons a queued run in two ways but never stops the worker thread that runs it, which would keep
    the CPU busy and, since the queue frees the run's concurrency slot, run beside the next visitor's job:
    - the client cancels (gradio_client `job.cancel()`, POST /gradio_api/cancel): the queue cancels the event's
      task, whose cleanup drops it from `Queue.event_ids_to_events` (gradio/queueing.py, process_events);
    - the browser tab closes: the SSE stream of /gradio_api/queue/data ends and `Queue.clean_events` marks the
      session's running events `alive = False` (gradio/routes.py, queue_data_helper).
    Both are read here, from the event Gradio is running in this thread's context. Outside a queued event (a
    direct Python call, an unqueued endpoint) there is nothing to watch and the run is always wanted.
    """
    blocks = LocalContext.blocks.get(None)
    event_id = LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if queue is None or event_id is None:
        return False
    event = queue.event_ids_to_events.get(event_id)
    return event is None or not event.alive


@dataclass
class RunCancel:
    """The cancel flag of one run: set when Stop is pressed, or when the run is abandoned."""

    stop: threading.Event
    abandoned: Callable[[], bool] = run_abandoned

    def is_set(self) -> bool:
        return self.stop.is_set() or self.abandoned()


class StopFlags:
    """One threading.Event per browser session: the Stop button sets it and the engine stops between two steps.

    (Gradio's own `cancels=` only abandons the event; the worker thread would keep the CPU busy.) The flag a run
    gets is a `RunCancel`, so a cancelled job or a closed tab stops the engine the same way.
    """

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    @contextmanager
    def running(self, session: str | None) -> Iterator[RunCancel]:
        flag = threading.Event()
        if session:
            with self._lock:
                self._flags[session] = flag
        try:
            yield RunCancel(flag)
        finally:
            with self._lock:
                if session and self._flags.get(session) is flag:
                    del self._flags[session]

    def stop(self, session: str | None) -> bool:
        with self._lock:
            flag = self._flags.get(session or "")
        if flag is not None:
            flag.set()
        return flag is not None


STOP_FLAGS = StopFlags()


def session_of(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None)


# Failures of the server's own set-up (weights files, the Hub): the details are for the operator, in the log; a
# visitor gets a plain sentence without server paths or environment variables.
WEIGHTS_UNAVAILABLE = "These model weights cannot be loaded on this server right now; choose others under Options."


def shown_to_user(fn: Callable) -> Callable:
    """Every failure becomes a gr.Error with a useful one-line message; the server keeps serving."""

    @functools.wraps(fn)  # keeps the signature, so Gradio still injects gr.Request and gr.Progress
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Cancelled as exc:
            why = "nobody is waiting for the result" if run_abandoned() else "Stop was pressed"
            log.info("%s stopped between two steps: %s", fn.__name__, why)
            raise gr.Error("Stopped. Nothing was saved.", title="Stopped", print_exception=False) from exc
        except (WeightsError, FileNotFoundError) as exc:
            log.warning("%s: weights unavailable: %s", fn.__name__, exc)
            raise gr.Error(WEIGHTS_UNAVAILABLE, print_exception=False) from exc
        except (UserError, ValueError) as exc:  # the visitor's input: the message names the photo and the problem
            raise gr.Error(str(exc), print_exception=False) from exc
        except (MemoryError, torch.OutOfMemoryError) as exc:
            raise gr.Error(
                "Out of memory for this photo. Choose a smaller tile size under Options, or crop or shrink the photo."
            ) from exc
        except Exception as exc:  # noqa: BLE001 - the last line of defence; the traceback goes to the log
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Unexpected error ({type(exc).__name__}). It has been logged.") from exc

    return wrapper


def model_run(fn: Callable) -> Callable:
    """The one mechanism every handler that runs a model goes through: its failures are one line
    (`shown_to_user`), and every pass it makes stops between two steps once nobody waits for it (a cancelled
    job, a closed tab: `run_abandoned`), whatever the pass (`sr_core.tiling.stops_on`). Handlers that also have
    a Stop button (upscale) open a narrower scope with the session's flag inside this one."""

    @functools.wraps(fn)
    def in_scope(*args, **kwargs):
        with stops_on(RunCancel(threading.Event())):
            return fn(*args, **kwargs)

    return shown_to_user(in_scope)


def model_queue(limit: int) -> dict:
    """The event options of every model run: one queue group, `limit` runs at a time."""
    return {"queue": True, "concurrency_limit": limit, "concurrency_id": "model"}


def queue_options(max_size: int) -> dict:
    """demo.queue() arguments. `api_open=False`: POST /gradio_api/run/<name> (and /run/predict with an
    fn_index) to a queued event is refused (404, "join the queue") instead of running at once outside the queue
    and its limit; a Space does this itself (SYSTEM=spaces), a self-hosted `python app.py` did not. The browser,
    gradio_client and the MCP tools use the queue (/gradio_api/queue/join); unqueued helpers run no model."""
    return {"max_size": max_size, "api_open": False}


def share_model_limit(demo: gr.Blocks, examples: gr.Examples, queue: dict) -> gr.Examples:
    """Run the examples' (lazily cached) model runs in the same queue group as every other model run.

    gr.Examples runs its function in its own event (the `.then` after loading the example) with its own
    concurrency id, so an example click would run beside a visitor's job despite MODEL_CONCURRENCY.
    """
    event = demo.fns[examples.cache_event["id"]]
    event.concurrency_id = queue["concurrency_id"]
    event.concurrency_limit = queue["concurrency_limit"]
    return examples


def progress_reporter(progress: gr.Progress, label: str) -> Callable[[Progress], None]:
    """Engine steps -> Gradio progress bar with the engine's ETA, at most ~5 updates a second."""
    last_sent = [0.0]

    def report(p: Progress) -> None:
        now = time.monotonic()
        if p.done < p.total and now - last_sent[0] < 0.2:
            return
        last_sent[0] = now
        progress((p.done, p.total), desc=f"{label}: about {format_duration(p.eta_s)} left", unit="steps")

    return report
