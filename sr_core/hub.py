"""Fetch weights from the Hugging Face Hub through huggingface_hub's own cache, failing fast when offline.

Why the probe: `hf_hub_download` (huggingface_hub 2.4.0) makes one HEAD call without retries; when that fails
on the network and the file is not cached, it tries again with `retry_on_errors=True` and a 60 s timeout,
i.e. five back-offs of 1+2+4+8+8 s (measured: 23 s for a refused port or an unknown host). A start-up must
not hang that long, so one HEAD call with our timeout decides first: if the Hub gives no usable HTTP answer,
`hf_hub_download(local_files_only=True)` serves the cached copy, exactly as huggingface_hub would (same
refs/snapshots lookup), or we raise at once. Cache location, offline mode (HF_HUB_OFFLINE), endpoint
(HF_ENDPOINT) and timeouts (HF_HUB_ETAG_TIMEOUT wins over ours, as in hf_hub_download) stay huggingface_hub's.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from sr_core.errors import WeightsError, first_line
from sr_core.models import ARCHITECTURES, HubSource

DEFAULT_HUB_FILE = HubSource.filename  # a file exported by `python -m sr_core export`

# Statuses after which hf_hub_download would enter its back-off loop (its _DEFAULT_RETRY_ON_STATUS_CODES):
# the Hub is overloaded or down, which for us means "unreachable", not "absent".
TRANSIENT_STATUS_CODES = frozenset({408, 429, 500, 502, 503, 504})


class HubUnavailable(WeightsError, RuntimeError):
    """The weights cannot come from the Hub (nor its cache); the one-line message says why."""


@dataclass(frozen=True)
class HubSettings:
    repo_id: str | None
    filename: str = DEFAULT_HUB_FILE
    revision: str | None = None  # None = the repo's default branch (main)

    def describe(self) -> str:
        at = f"@{self.revision}" if self.revision else ""
        return f"{self.repo_id}{at}/{self.filename}"


def hub_settings(
    repo: str | None = None,
    filename: str | None = None,
    revision: str | None = None,
    source: HubSource | None = None,
) -> HubSettings:
    """Explicit values win; unset ones come from the source's variables (empty = unset), then from its defaults.
    Without a source: the default model's (the first registered; SR_HUB_REPO, SR_HUB_FILE, SR_HUB_REVISION)."""
    source = source or default_hub_source()
    return HubSettings(
        repo_id=repo or os.environ.get(source.repo_env) or source.repo_id,
        filename=filename or os.environ.get(source.file_env) or source.filename,
        revision=revision or os.environ.get(source.revision_env) or None,
    )


def default_hub_source() -> HubSource:
    """The Hub source of the default model: the first registered architecture's first Hub weights."""
    return next(w.hub for arch in ARCHITECTURES for w in arch.weights if w.hub)


def download_weights(settings: HubSettings, timeout_s: float = 5.0) -> Path:
    """Path of the weights file in the HF cache: downloaded or refreshed if the Hub answers, cached otherwise.

    Raises HubUnavailable when neither the Hub nor the cache has the file: at once when the Hub refuses or
    cannot be resolved, after `timeout_s` when it accepts connections but stays silent (plus up to 3 s for
    huggingface_hub's user-agent registry request, made once per process unless cached in HF_HOME).
    """
    if not settings.repo_id:
        raise HubUnavailable(f"no Hub repo configured: set {default_hub_source().repo_env} or pass --hub-repo")
    try:
        validate_repo_id(settings.repo_id)
    except HFValidationError as exc:
        raise HubUnavailable(f"invalid Hub repo id {settings.repo_id!r}: {first_line(exc)}") from exc
    no_answer = _probe(settings, timeout_s)
    try:
        path = hf_hub_download(
            settings.repo_id,
            settings.filename,
            revision=settings.revision,
            etag_timeout=timeout_s,
            local_files_only=no_answer is not None,
        )
    except LocalEntryNotFoundError as exc:
        raise HubUnavailable(_not_cached_message(settings, no_answer or exc.__cause__ or exc)) from exc
    except GatedRepoError as exc:
        raise HubUnavailable(f"Hub repo {settings.repo_id} is gated: accept its terms, then log in") from exc
    except RepositoryNotFoundError as exc:
        raise HubUnavailable(
            f"Hub repo {settings.repo_id} not found at {constants.ENDPOINT} (or private: log in with a token)"
        ) from exc
    except RevisionNotFoundError as exc:
        raise HubUnavailable(f"revision {settings.revision!r} not found in Hub repo {settings.repo_id}") from exc
    except RemoteEntryNotFoundError as exc:
        raise HubUnavailable(f"file {settings.filename} not found in Hub repo {settings.describe()}") from exc
    except Exception as exc:  # noqa: BLE001 - other HTTP errors, a transfer cut short, an unwritable cache, ...
        raise HubUnavailable(f"download of {settings.describe()} failed: {first_line(exc)}") from exc
    return Path(path)


def snapshot_commit(path: Path, filename: str) -> str | None:
    """The commit a file in the HF cache belongs to: hf_hub_download returns snapshots/<commit>/<filename>."""
    snapshot = path.parents[len(Path(filename).parts) - 1]
    return snapshot.name if snapshot.parent.name == "snapshots" else None


def _probe(settings: HubSettings, timeout_s: float) -> Exception | None:
    """One HEAD call, no retries: the error when the Hub gives no usable answer, None when it answers.

    A definite answer (200, 404, 401) returns None so that hf_hub_download handles it as usual.
    """
    url = hf_hub_url(settings.repo_id, settings.filename, revision=settings.revision)
    env_timeout = constants.HF_HUB_ETAG_TIMEOUT  # set from HF_HUB_ETAG_TIMEOUT; it overrides callers in hf_hub_download
    timeout = env_timeout if env_timeout != constants.DEFAULT_ETAG_TIMEOUT else timeout_s
    try:
        get_hf_file_metadata(url, timeout=timeout)
    except HfHubHTTPError as exc:
        return exc if exc.response.status_code in TRANSIENT_STATUS_CODES else None
    except Exception as exc:  # noqa: BLE001 - any transport failure (DNS, refused, timeout, TLS, proxy)
        return exc
    return None


def _not_cached_message(settings: HubSettings, reason: Exception) -> str:
    missing = f"{settings.describe()} is not in the HF cache ({constants.HF_HUB_CACHE})"
    if isinstance(reason, OfflineModeIsEnabled) or constants.is_offline_mode():
        return f"HF_HUB_OFFLINE is set and {missing}"
    if isinstance(reason, HfHubHTTPError):
        return f"{constants.ENDPOINT} answered HTTP {reason.response.status_code} and {missing}"
    return f"cannot reach {constants.ENDPOINT} ({first_line(reason)}) and {missing}"
