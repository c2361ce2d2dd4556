"""How long a visitor waits, in a real browser: the enlarged result with the explanation tab closed, then the
explanation once its tab is opened, then a second photo enlarged (which must not queue behind an explanation).

Starts `python app.py` with the bundled RCAN (tests/app_server.py) and drives it with Debian's chromium through
playwright, so the times include the queue, the transfer and the drawing, as a visitor sees them.

    python bench/explain_wait.py --size 400x266 --image ../shared/data/sr/BSD200/HR/118035.png
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sr_core.weights import BUNDLED_RCAN  # noqa: E402
from tests.app_server import running_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 300_000


def photo_of(size: tuple[int, int], image: Path | None, path: Path, shift: int) -> Path:
    """The test photo at `size` (a resized copy of `image`, or a gradient); `shift` makes a second, different one."""
    source = Image.open(image).convert("RGB") if image else Image.linear_gradient("L").convert("RGB")
    source = source.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if shift else source
    source.resize(size, Image.Resampling.BICUBIC).save(path)
    return path


def timed(action, wait) -> float:
    started = time.perf_counter()
    action()
    wait()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="400x266", help="photo size WxH")
    parser.add_argument("--image", type=Path, help="a photo to resize (default: a gradient)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, running_app(BUNDLED_RCAN, Path(tmp)) as url, sync_playwright() as pw:
        photos = [photo_of((width, height), args.image, Path(tmp) / f"photo{i}.png", i) for i in range(2)]
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1360, "height": 960})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        images = "Array.from(document.querySelectorAll('#slider img'))"
        done = (f"before => {images}.length === 2 && {images}.every(i => i.naturalWidth === {width * 3} && "
                "!before.includes(i.src))")

        def enlarge(photo: Path) -> float:
            page.get_by_role("tab", name="Upscale").click()
            page.set_input_files("#upload input[type=file]", str(photo))
            page.locator("#ready").get_by_text(f"Ready: {width}×{height} px").wait_for()
            before = page.evaluate(f"{images}.map(i => i.src)")
            return timed(lambda: page.click("#run"), lambda: page.wait_for_function(done, arg=before))

        first = enlarge(photos[0])
        opened = timed(lambda: page.get_by_role("tab", name="How textures are kept").click(),
                       lambda: page.locator("#plot-depth .js-plotly-plot").wait_for())
        reopened = timed(lambda: (page.get_by_role("tab", name="Upscale").click(),
                                  page.get_by_role("tab", name="How textures are kept").click()),
                         lambda: page.locator("#plot-depth .js-plotly-plot").wait_for())
        second = enlarge(photos[1])
        browser.close()
    print(f"photo {width}x{height}, bundled RCAN, this machine")
    print(f"enlarged result, explanation tab closed: {first:.1f} s")
    print(f"explanation, from opening its tab:        {opened:.1f} s")
    print(f"explanation, tab opened again (cached):   {reopened:.1f} s")
    print(f"a second photo enlarged:                  {second:.1f} s")


if __name__ == "__main__":
    main()
