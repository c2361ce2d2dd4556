"""How the app is launched: its ASGI guards, its upload limit, and the MCP server (on wherever it is installed)."""
from __future__ import annotations

import importlib.util
import os

from starlette.middleware import Middleware

from app_serving.guards import RequestBodyLimit, UploadCacheBound
from app_serving.limits import max_upload_bytes, request_body_limit, upload_cache_bytes, upload_folder

MCP_ENV = "GRADIO_MCP_SERVER"  # Gradio's own switch, read here so that the default can be "on"
# The footer: the API page (which also shows the MCP tools), Gradio, settings. No "runs" history: it would list
# results whose files the server deletes after OUTPUT_KEEP_S.
FOOTER_LINKS = ["api", "gradio", "settings"]


def mcp_server_on() -> bool:
    """The MCP server (upscale and explain as tools) is on when gradio[mcp] is installed, as requirements.txt does;
    GRADIO_MCP_SERVER=False turns it off. GRADIO_MCP_SERVER=True without the `mcp` package stops the start-up
    with a one-line error, where Gradio alone would only print an error and serve without MCP."""
    setting = os.environ.get(MCP_ENV, "").strip().lower()
    installed = importlib.util.find_spec("mcp") is not None
    if setting == "true" and not installed:
        raise SystemExit(f'app.py: {MCP_ENV}=True needs the mcp package: pip install "gradio[mcp]"')
    return installed if not setting else setting == "true"


def launch_options(**look: object) -> dict:
    """launch() arguments, with the page's `look` (theme, css); server name and port are left to Gradio, which
    reads GRADIO_SERVER_NAME/PORT."""
    return {
        "max_file_size": max_upload_bytes(),
        "app_kwargs": {"middleware": [Middleware(RequestBodyLimit, max_bytes=request_body_limit()),
                                      Middleware(UploadCacheBound, folder=upload_folder,
                                                 max_bytes=upload_cache_bytes())]},
        **look,
        "mcp_server": mcp_server_on(),
        "footer_links": FOOTER_LINKS,
    }
