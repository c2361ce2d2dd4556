"""Turn a supported checkpoint into a Hub-ready folder (safetensors + config.json + model card), and push it.

The tensors keep the official key names, so the exported file still loads into the reference code with
strict=True, and `sr_core.weights` (SR_HUB_REPO / --weights hub) reads it back unchanged.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from huggingface_hub import HfApi, ModelCardData
from safetensors.torch import save_file

from sr_core.checkpoint import read_metadata, read_state_dict
from sr_core.models import architecture_named, count_parameters, model_from_state_dict

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
REPO_PLACEHOLDER = "<user>/<repo>"


def export_checkpoint(src: str | Path, out_dir: str | Path, repo_id: str | None = None) -> Path:
    """Write model.safetensors, config.json and README.md for `src` into `out_dir`; returns `out_dir`.

    The architecture is detected before anything is written, so an unsupported checkpoint
    (UnsupportedCheckpoint) or an unreadable one (CheckpointError) leaves no half-exported folder.
    `repo_id` only fills the usage lines of the model card.
    """
    src, out_dir = Path(src), Path(out_dir)
    model, arch = model_from_state_dict(read_state_dict(src), read_metadata(src))
    config = {
        "architecture": arch,
        "config": model.config.to_dict(),
        "scale": model.scale,
        "n_params": count_parameters(model),
        "weights": WEIGHTS_FILE,
        "source": {"filename": src.name, "sha256": file_sha256(src)},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    # "pt": the HF convention; the config travels too, for what the keys cannot say (an RCAN without its skips)
    metadata = {"format": "pt", **{k: str(v) for k, v in model.config.to_dict().items()}}
    save_file(tensors, str(out_dir / WEIGHTS_FILE), metadata=metadata)
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (out_dir / CARD_FILE).write_text(model_card(config, repo_id or REPO_PLACEHOLDER), encoding="utf-8")
    return out_dir


def push_folder(out_dir: str | Path, repo_id: str, token: str | None = None) -> str:
    """Create the model repo if needed and upload the exported folder in one commit; returns the commit URL."""
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=str(out_dir),
        repo_type="model",
        commit_message="Upload super-resolution weights exported by sr_core",
    )
    return commit.commit_url


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def model_card(config: dict, repo_id: str) -> str:
    """Model card: YAML front matter (written by huggingface_hub) plus what the weights are and how to use them,
    in the words of the architecture's descriptor (`Architecture.card`)."""
    arch = architecture_named(config["architecture"])
    card, scale, source = arch.card, config["scale"], config["source"]
    metadata = ModelCardData(library_name="pytorch", license="other", pipeline_tag="image-to-image",
                             tags=["super-resolution", card.tag, "image-to-image"])
    hyper = ", ".join(f"{k}={v}" for k, v in config["config"].items())
    return f"""---
{metadata.to_yaml()}
---

# {arch.name} x{scale} super-resolution

{card.summary.format(scale=scale)}

- Configuration: {hyper}
- Parameters: {config["n_params"]:,}
- Input/output: RGB in 0..{arch.value_range:g}, NCHW float32; the output is {scale}x the input size.

**Licence:** the weights' licence is that of their source (`{source["filename"]}`); check it before reuse.
The metadata says `license: other` because the licence is inherited from that source, not chosen here.

## How it was exported

Exported from `{source["filename"]}` (sha256 `{source["sha256"]}`) with
`python -m sr_core export {source["filename"]} -o DIR`: the architecture and configuration were detected from
the state-dict keys and shapes, the tensors were converted to contiguous float32 and saved as
`{WEIGHTS_FILE}` with the official key names ({card.key_examples}, ...),
so the state dict loads into the reference implementation with `strict=True`. `{CONFIG_FILE}` records the detected
configuration and the source file's checksum.

## How to use it

With this project (the Gradio demo or its command line):

```bash
{card.app_env.format(repo=repo_id)} python app.py
python -m sr_core upscale photo.jpg -o out.png --weights hub --hub-repo {repo_id}
```

The file is fetched into the Hugging Face cache once; later runs, including offline ones
(`HF_HUB_OFFLINE=1`), use the cached copy.

## Citation

{arch.name} paper: [arXiv {card.arxiv}](https://arxiv.org/abs/{card.arxiv}); official code:
[{card.code}](https://{card.code}).

```bibtex
{card.bibtex}
```
"""
