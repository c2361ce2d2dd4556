"""The README's examples, taken from the README itself so the two cannot drift: the gradio_client block runs as
written against `python app.py` (only the address changes), the MCP client configurations parse and point at
the app's MCP endpoint, and the Space front matter names the SAFMN weights' repo."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import metadata_load

from tests.app_server import running_app
from tests.conftest import save_tiny_safmn

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
README_ADDRESS = "http://127.0.0.1:7860/"


def code_blocks(section: str, language: str) -> list[str]:
    """The ```language blocks of the README section whose heading is `section`, up to the next heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{section}\n")
    end = re.compile(r"\n#{2,3} ").search(text, start + len(section) + 2)  # a lone "# " is a code comment
    body = text[start: end.start() if end else len(text)]
    return re.findall(rf"```{language}\n(.*?)```", body, flags=re.S)


@pytest.mark.server
def test_the_gradio_client_example_runs_as_written(tiny_checkpoint, tmp_path):
    (block,) = code_blocks("### As an API", "python")
    assert README_ADDRESS in block
    env = {"SR_SAFMN_WEIGHTS": str(save_tiny_safmn(tmp_path / "tiny_safmn.safetensors"))}
    with running_app(tiny_checkpoint, tmp_path, env) as url:
        done = subprocess.run([sys.executable, "-c", block.replace(README_ADDRESS, url)], cwd=REPO,
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "fur_cat_x3.png" in out and "RCAN ×3" in out and "SAFMN ×3" in out
    assert re.search(r"^\d+\.\d+$", out, flags=re.M), out  # the printed high-frequency energy ratio


def test_the_mcp_client_configurations_parse_and_point_at_the_endpoint():
    blocks = [json.loads(block) for block in code_blocks("### As an MCP tool", "json")]
    assert blocks[0] == {"mcpServers": {"rcan-x3": {"url": f"{README_ADDRESS}gradio_api/mcp/"}}}
    assert blocks[1]["upload"]["args"][3] == "upload-mcp"  # gradio's own helper command (gradio/cli/cli.py)


def test_the_space_front_matter_lists_the_hub_weights():
    metadata = metadata_load(README)
    assert metadata["models"] == ["Meloo/SAFMN"]
    assert metadata["sdk"] == "gradio" and metadata["app_file"] == "app.py"


def test_every_picture_the_readme_shows_is_in_the_repo() -> None:
    import re

    def pictures(page: Path) -> list[Path]:
        return [page.parent / p for p in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))
                if not p.startswith("http")]

    shown = {p.resolve().relative_to(REPO).as_posix() for page in (README, REPO / "docs" / "explanation.md")
             for p in pictures(page)}
    assert {"docs/screenshots/lesson_main_path.png", "docs/screenshots/handout_page_1.png"} <= {
        p.relative_to(REPO).as_posix() for p in pictures(README)}
    assert {"docs/screenshots/linked_channel_view.png", "docs/screenshots/step_through.png"} <= shown
    missing = [p for p in shown if not (REPO / p).is_file()]
    assert not missing, missing
