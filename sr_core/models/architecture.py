"""The architecture descriptor: the one home of each model's facts, and the registry that detects them.

Each architecture file (`rcan.py`, `safmn.py`) ends with its `Architecture`: how to recognise its state dict
(spandrel-style key detection, shape-inferred hyperparameters), its config and builder, its value range, its
tiled forward and step count, its halo and minimum side, the precisions it runs in per device, its bundled
file, its training recipes, and its model card. The engine, the estimate, the weights, the trainer and the
exporter ask the descriptor (`architecture_of(model)`, `architecture_named(name)`), never the model's class.

A checkpoint is untrusted input: its shapes decide how large a model gets built. So the detected configuration
is checked against sane bounds, and the model's keys, shapes and size are checked on a skeleton built on
PyTorch's "meta" device (no memory behind it) *before* the real model is allocated; tensors holding NaN or
infinity are refused, since they would only ever produce a black picture.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from sr_core.errors import WeightsError, first_line
from sr_core.tiling import StepCounter

# The largest model accepted, in float32 bytes: 64x the published RCAN x3 (15.6 M parameters, 62 MB).
MAX_MODEL_BYTES = 4 << 30
# What reading the shapes may raise on a crafted file (0-d tensors, odd key names, zero divisions).
_DETECTION_ERRORS = (KeyError, IndexError, ValueError, ZeroDivisionError, TypeError)

StateDict = dict[str, torch.Tensor]


class UnsupportedCheckpoint(WeightsError, ValueError):
    """The state dict matches no supported architecture; the message says what was missing."""


@dataclass(frozen=True)
class Recipe:
    """One training configuration (`python -m sr_core train --config NAME`): the model and its schedule."""

    model: Any  # the architecture's config dataclass
    batch: int = 32
    lr_patch: int = 48  # LR crop side; the HR crop is scale times larger
    lr: float = 4e-4
    warmup: int = 300
    save_every: int = 1000
    eval_every: int = 1000


@dataclass(frozen=True)
class ModelCard:
    """What `python -m sr_core export` writes about the weights (README.md of the Hub folder)."""

    summary: str  # a paragraph: what the network is and how it keeps textures
    key_examples: str  # a few official key names, e.g. "`head.0`, `tail.0.0`"
    tag: str  # the Hub tag beside "super-resolution" and "image-to-image"
    app_env: str  # the variables that make the app serve a repo ("{repo}" is filled in)
    arxiv: str  # the paper's arXiv id
    code: str  # the official code, as github.com/OWNER/REPO
    bibtex: str


@dataclass(frozen=True)
class HubSource:
    """Where Hub weights are looked up: the variables an operator sets, and the defaults without them."""

    repo_env: str
    file_env: str
    revision_env: str
    repo_id: str | None = None
    filename: str = "model.safetensors"


@dataclass(frozen=True)
class Weights:
    """One set of weights an architecture is served with, by the name `--weights` and the app take: a file
    bundled in sr_core/bundled/, or a Hub source with the bundled weights that serve when the Hub cannot."""

    spec: str  # "bundled", "bundled-jpeg", "hub-safmn", ...
    origin: str  # where they came from, in words for labels: "trained here on clean photos"
    file: str | None = None  # the bundled file's name
    hub: HubSource | None = None
    fallback: str | None = None  # a Hub source's bundled spec
    jpeg: bool = False  # trained on JPEG-compressed inputs: JPEG photos get these when nobody names weights


@dataclass(frozen=True)
class Architecture:
    """Everything the rest of sr_core needs to know about one architecture."""

    name: str
    model: type[nn.Module]  # built as model(config); has `.config` and `.scale`
    config: type  # a frozen dataclass with to_dict()
    signature_keys: tuple[str, ...]  # keys every checkpoint of this architecture has
    detect: Callable[[StateDict, dict[str, str] | None], Any]  # (state dict, safetensors metadata) -> config
    bounds: dict[str, tuple[float, float]]  # config field -> (lowest, highest) accepted value
    value_range: float  # pixels go in and come out in 0..value_range
    tiled_forward: Callable[[nn.Module, torch.Tensor, int, StepCounter], torch.Tensor]  # exact layer-wise tiling
    tiled_steps: Callable[[nn.Module, int, int, int], int]  # (model, height, width, tile) -> steps of it
    halo: int  # pixels read around a tile by the layers that do most of the work (for time estimates)
    min_side: int  # the smallest input side the network accepts
    # Per device type, the precisions it runs in, the preferred first ("auto" takes the first the hardware runs
    # natively; sr_core.precision).
    precisions: dict[str, tuple[str, ...]]
    card: ModelCard
    key: str = ""  # the app's, the API's and the CLI's name for it ("rcan"); the name in lower case by default
    # Its weights, bundled and on the Hub; the first bundled one is what its "bundled" spec serves, the first Hub
    # one what the app serves by default.
    weights: tuple[Weights, ...] = ()
    # Where the server names its weights for the app (e.g. SR_SAFMN_WEIGHTS); None: the app's weights choice
    # (the visitor's, under Options) names them.
    server_weights_env: str | None = None
    training: dict[str, Recipe] = field(default_factory=dict)  # recipe name -> recipe
    # Ablation name -> a function giving the trained network with that part removed and every other weight kept,
    # the start of a retrained ablation arm (sr_core.tools.ablation).
    ablations: dict[str, Callable[[nn.Module], nn.Module]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.name.lower())

    def build(self, config: Any) -> nn.Module:
        return self.model(config)

    def bundled(self) -> Weights | None:
        """Its first bundled weights (the small model trained by this project), if any."""
        return next((w for w in self.weights if w.file), None)

    def hub(self) -> Weights | None:
        """Its first Hub weights, if any."""
        return next((w for w in self.weights if w.hub), None)


# The registry, in detection order; architecture files add themselves through `register` (sr_core.models).
ARCHITECTURES: list[Architecture] = []


def register(arch: Architecture) -> Architecture:
    """Make `arch` known to detection, the engine and the trainer; a second one of the same name is refused."""
    if any(known.name == arch.name for known in ARCHITECTURES):
        raise ValueError(f"an architecture named {arch.name} is registered already")
    ARCHITECTURES.append(arch)
    return arch


def architecture_of(model: nn.Module) -> Architecture:
    """The descriptor of a built model (its class, or a subclass of it)."""
    for arch in ARCHITECTURES:
        if isinstance(model, arch.model):
            return arch
    raise TypeError(f"{type(model).__name__} is no registered architecture "
                    f"({', '.join(a.name for a in ARCHITECTURES)})")


def architecture_named(name: str) -> Architecture:
    for arch in ARCHITECTURES:
        if arch.name == name:
            return arch
    raise KeyError(f"no architecture named {name!r}")


def architecture_keyed(key: str) -> Architecture:
    """The architecture the app's model choice `key` names ("rcan"); ValueError lists the choices."""
    for arch in ARCHITECTURES:
        if arch.key == key:
            return arch
    raise ValueError(f"unknown model choice {key!r}; choose one of {[a.key for a in ARCHITECTURES]}")


def training_recipes() -> dict[str, Recipe]:
    """Every registered architecture's recipes, by name, in registry order."""
    return {name: recipe for arch in ARCHITECTURES for name, recipe in arch.training.items()}


def recipe_architecture(recipe: str) -> Architecture:
    """The architecture whose training recipe is named `recipe` (a study's "config"); KeyError where none is."""
    for arch in ARCHITECTURES:
        if recipe in arch.training:
            return arch
    raise KeyError(f"no architecture has a training recipe named {recipe!r}")


def count_parameters(model: nn.Module) -> int:
    """Every tensor of the state dict (the fixed mean shifts too): the size a checkpoint of `model` has."""
    return sum(t.numel() for t in model.state_dict().values())


def model_from_state_dict(state_dict: StateDict, metadata: dict[str, str] | None = None) -> tuple[nn.Module, str]:
    """Detect the architecture, check it, build it and load the tensors strictly.

    `metadata` (the safetensors header's) tells what the keys cannot, such as removed skip connections.

    Raises UnsupportedCheckpoint with a one-line reason: missing or unexpected keys, shapes, a configuration
    out of bounds, a model too large, non-finite values.
    """
    best: tuple[int, Architecture] | None = None
    for arch in ARCHITECTURES:
        present = sum(k in state_dict for k in arch.signature_keys)
        if present == len(arch.signature_keys):
            return _load(arch, state_dict, metadata), arch.name
        if best is None or present > best[0]:
            best = (present, arch)
    names = ", ".join(a.name for a in ARCHITECTURES)
    hint = ""
    if best is not None:
        missing = [k for k in best[1].signature_keys if k not in state_dict]
        hint = f"; closest is {best[1].name}, missing {_preview(missing)}"
    raise UnsupportedCheckpoint(
        f"not a supported super-resolution checkpoint ({names}): {len(state_dict)} keys such as "
        f"{_preview(sorted(state_dict))}{hint}"
    )


def _load(arch: Architecture, state_dict: StateDict, metadata: dict[str, str] | None) -> nn.Module:
    config = _detected_config(arch, state_dict, metadata)
    with torch.device("meta"):  # the skeleton has shapes but no memory
        expected = {k: tuple(v.shape) for k, v in arch.build(config).state_dict().items()}
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise UnsupportedCheckpoint(
            f"looks like {arch.name} but keys differ: missing {_preview(missing)}, unexpected {_preview(unexpected)}"
        )
    bad_shapes = [k for k, shape in expected.items() if shape != tuple(state_dict[k].shape)]
    if bad_shapes:
        raise UnsupportedCheckpoint(f"looks like {arch.name} but shapes differ for {_preview(bad_shapes)}")
    n_bytes = 4 * sum(state_dict[k].numel() for k in expected)
    if n_bytes > MAX_MODEL_BYTES:
        raise UnsupportedCheckpoint(f"the {arch.name} model would need {n_bytes / 2**20:,.0f} MiB of weights; "
                                    f"the limit is {MAX_MODEL_BYTES / 2**20:,.0f} MiB")
    as_float = {k: v.float() for k, v in state_dict.items()}  # checked as loaded: 1e300 in float64 becomes inf
    non_finite = [k for k, v in as_float.items() if not torch.isfinite(v).all()]
    if non_finite:
        raise UnsupportedCheckpoint(f"the checkpoint holds NaN or infinite values in {_preview(non_finite)}")
    model = arch.build(config)
    model.load_state_dict(as_float, strict=True)
    return model.eval()


def _detected_config(arch: Architecture, state_dict: StateDict, metadata: dict[str, str] | None) -> Any:
    """The configuration the shapes describe, within `arch.bounds`, or UnsupportedCheckpoint."""
    try:
        config = arch.detect(state_dict, metadata)
    except _DETECTION_ERRORS as exc:
        raise UnsupportedCheckpoint(f"looks like {arch.name} but its tensor shapes describe no valid model "
                                    f"({type(exc).__name__}: {first_line(exc)})") from exc
    values = config.to_dict()
    for name, (lowest, highest) in arch.bounds.items():
        if not lowest <= values[name] <= highest:
            raise UnsupportedCheckpoint(f"looks like {arch.name} but its shapes give {name} = {values[name]}, "
                                        f"outside the accepted {lowest:g}..{highest:g}")
    return config


def _preview(keys: list[str], n: int = 3) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(repr(k) for k in keys[:n]) + more
