"""`python app.py` as an MCP server (Gradio 6's launch(mcp_server=...)): the tools, their parameters, and a tool call
through the streamable-HTTP endpoint that returns the x3 PNG. Needs gradio[mcp] (requirements.txt)."""
from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.app_server import running_app
from tests.conftest import save_tiny_safmn

pytestmark = pytest.mark.server

pytest.importorskip("mcp", reason='the MCP server needs gradio[mcp]: pip install -r requirements.txt')

PHOTO = np.random.default_rng(5).integers(0, 256, (20, 28, 3), dtype=np.uint8)
UPLOAD_LIMIT = "100kb"


@pytest.fixture(scope="module")
def app_url(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory):
    """Started as a user would, without GRADIO_MCP_SERVER: the MCP server is on by default."""
    workdir = tmp_path_factory.mktemp("mcp_app")
    env = {"SR_SAFMN_WEIGHTS": str(save_tiny_safmn(workdir / "tiny_safmn.safetensors")), "GRADIO_MCP_SERVER": "",
           "SR_MAX_UPLOAD": UPLOAD_LIMIT}
    with running_app(tiny_checkpoint, workdir, env) as url:
        yield url


def photo_data_url(pixels: np.ndarray = PHOTO) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def call_tool(url: str, name: str, arguments: dict, with_progress: bool) -> tuple[list[str], object]:
    """(the tools listed, the tool's result) through the MCP endpoint, as an MCP client does it."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def session_call():
        async with streamable_http_client(url + "gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = [tool.name for tool in (await session.list_tools()).tools]
                progress = []

                async def on_progress(done: float, total: float | None, message: str | None) -> None:
                    progress.append(message)

                result = await session.call_tool(name, arguments,
                                                 progress_callback=on_progress if with_progress else None)
                return tools, result

    return asyncio.run(session_call())


def test_schema_lists_both_tools_with_their_parameters(app_url):
    with urllib.request.urlopen(app_url + "gradio_api/mcp/schema", timeout=30) as response:
        tools = {tool["name"]: tool for tool in json.load(response)}
    assert set(tools) == {"upscale", "explain"}  # every helper event is hidden
    upscale = tools["upscale"]
    assert upscale["description"].startswith("Enlarge a photo 3 times")
    properties = upscale["inputSchema"]["properties"]
    assert list(properties) == ["image", "tile", "ensemble", "weights", "model", "precision", "centre"]  # new ones last
    assert "region" in properties["centre"]["description"] and "centre" not in upscale["inputSchema"].get("required", [])
    assert upscale["inputSchema"]["required"] == ["image"]
    assert properties["image"]["type"] == "string" and "url" in properties["image"]["format"]
    assert properties["model"]["enum"] == ["rcan", "safmn"] and properties["model"]["default"] == "rcan"
    assert properties["precision"]["enum"] == ["auto", "fp32", "bf16"] and properties["precision"]["default"] == "auto"
    assert properties["tile"]["description"].startswith("Tile size in input pixels")  # from the docstring's Args
    explain = tools["explain"]["inputSchema"]["properties"]
    assert list(explain) == ["image", "have_original", "weights", "model", "precision"]  # new ones last
    assert tools["explain"]["inputSchema"]["required"] == ["image"] and explain["precision"]["default"] == "auto"
    assert explain["have_original"]["type"] == "boolean" and explain["have_original"]["description"]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data)).size


def test_a_tool_call_returns_the_x3_png(app_url):
    tools, result = call_tool(app_url, "upscale", {"image": photo_data_url(), "model": "safmn"}, with_progress=True)
    assert tools == ["upscale", "explain"]
    assert not result.isError, result.content
    images = [c for c in result.content if c.type == "image"]
    assert [c.mimeType for c in images] == ["image/png"]
    assert _png_size(base64.b64decode(images[0].data)) == (84, 60)
    texts = [c.text for c in result.content if c.type == "text"]
    assert any(t.startswith("Image URL: http") and t.endswith("_x3.png") for t in texts)
    assert any("SAFMN ×3" in t for t in texts)  # the info line


def test_without_progress_the_result_names_the_png_by_url(app_url):
    """Gradio 6.31 returns a multi-output tool's result as one text when the client asks for no progress: the
    files are in it as URLs on this server, which serve the x3 PNG."""
    _, result = call_tool(app_url, "upscale", {"image": photo_data_url()}, with_progress=False)
    assert not result.isError, result.content
    text = " ".join(c.text for c in result.content if c.type == "text")
    urls = re.findall(r"'url': '(http[^']+_x3\.png)'", text)
    assert urls and all(u.startswith(app_url) for u in urls)
    with urllib.request.urlopen(urls[-1], timeout=30) as response:
        assert _png_size(response.read()) == (84, 60)


def test_local_urls_and_oversized_data_urls_are_refused_and_the_server_keeps_serving(app_url):
    """Gradio fetches http(s) inputs itself and refuses loopback and private addresses (SSRF protection), so a
    local client sends a data: URL (README); one larger than SR_MAX_UPLOAD is refused like an upload."""
    _, refused = call_tool(app_url, "upscale", {"image": "http://127.0.0.1:9/photo.png"}, with_progress=True)
    assert refused.isError
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)  # ~120 kB as PNG
    assert len(photo_data_url(noise)) * 3 / 4 > 100_000
    _, too_big = call_tool(app_url, "upscale", {"image": photo_data_url(noise)}, with_progress=True)
    assert too_big.isError and "exceeds the maximum file size of 102400 bytes" in too_big.content[0].text
    _, result = call_tool(app_url, "upscale", {"image": photo_data_url()}, with_progress=True)
    assert not result.isError



def test_a_photo_over_the_mcp_transport_limit_gets_a_clear_message(app_url):
    """A 3.2 MB PNG as a data URL is over the transport's limit: the caller reads the limit and what to do, not
    the bare 413 ("Request body too large") the transport alone sends."""
    big = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(3_300_000)).decode()
    from mcp.shared.exceptions import McpError

    with pytest.raises(BaseException) as refused:
        call_tool(app_url, "upscale", {"image": big}, with_progress=False)
    error = refused.value
    while isinstance(error, BaseExceptionGroup):  # the client's task groups wrap the call's error
        error = error.exceptions[0]
    limit = 100 * 1024 * 4 // 3 + 2**20  # the app's own (SR_MAX_UPLOAD=100kb here) is below MCP's 4 MiB
    assert isinstance(error, McpError) and str(error).startswith("MCP request too large: 4,40"), error
    assert f"at most {limit:,} bytes" in str(error) and "gradio_client" in str(error)
    _, result = call_tool(app_url, "upscale", {"image": photo_data_url()}, with_progress=True)
    assert not result.isError  # and the server keeps serving
