"""The page in a real browser (Debian's Chromium through Playwright) against a real
`convolab serve`: draw a digit with the mouse, watch the prediction and the feature maps,
click a pixel, switch to Spanish, upload a photo to a Fashion-MNIST model.

Screenshots go to $CONVOLAB_SCREENSHOTS when it is set (the README's come from there),
else to the test's temporary folder. Without Chromium the test skips (in CI it fails)."""

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

import convolab
from convolab.serve.server import free_port

CHROMIUM = "/usr/bin/chromium"
#: Without these Chromium tries its own connections, which a closed network refuses.
FLAGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-quic"]


def _need_browser():
    missing = not Path(CHROMIUM).exists() or shutil.which("chromium") is None
    if missing:
        message = "Chromium not found (Debian: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _need_browser()
    root = tmp_path_factory.mktemp("browser")
    runs = []
    for name, dataset, images in (("digits", "mnist", 2000), ("clothes", "fashion_mnist", 600)):
        out = root / name
        convolab.train({"data": {"name": dataset, "train_samples": images},
                        "train": {"epochs": 2}, "out": str(out)}, verbose=0)
        runs.append(str(out))
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "convolab", "serve", *runs, "--port",
                                str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(url + "readyz", timeout=2)
            break
        except OSError:
            assert process.poll() is None, process.stdout.read().decode()
            assert time.time() < deadline, "the server did not start in 120 s"
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("CONVOLAB_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _draw_a_one(page):
    box = page.locator("#pad").bounding_box()
    x, y = box["x"], box["y"]
    page.mouse.move(x + 150, y + 40)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x + 150 - i, y + 40 + 10 * i)
    page.mouse.up()


def test_draw_watch_click_and_read_it_in_spanish(server, browser, shots):
    page = browser.new_page(viewport={"width": 1250, "height": 1450}, locale="en-US")
    page.goto(server)
    page.wait_for_selector("#model option", state="attached")
    assert page.locator("h1").inner_text() == "Watch your CNN think"
    _draw_a_one(page)
    page.wait_for_selector(".bar.top")
    page.wait_for_selector("#maps figure img")
    assert page.locator(".bar").count() == 10
    assert page.locator("#maps figure").count() == 4  # 2 conv + 2 pooling layers
    assert "max pooling" in page.locator("#maps figure").nth(1).inner_text()
    top = page.locator(".bar.top").get_attribute("data-class")
    assert top in "0123456789"
    page.screenshot(path=str(shots / "serve-en.png"))
    page.locator("#seen").click(position={"x": 112, "y": 100})
    page.wait_for_selector("#explain section")
    assert "products are added up" in page.locator("#explain").inner_text()
    page.locator("#lang-switch").click()
    page.wait_for_selector("#model option", state="attached")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.locator("h1").inner_text() == "Mira pensar a tu red convolucional"
    _draw_a_one(page)
    page.wait_for_selector("#maps figure img")
    assert page.locator("#maps-panel h2").inner_text() == "Mapas de características"
    assert "agrupación máxima" in page.locator("#maps figure").nth(1).inner_text()
    page.locator("#seen").click(position={"x": 112, "y": 100})
    page.wait_for_function("document.querySelector('#explain').innerText"
                           ".includes('Un valor de salida paso a paso')")
    page.screenshot(path=str(shots / "serve-es.png"))
    assert page.locator("#status").inner_text() == ""
    page.close()


def test_a_fashion_model_takes_a_photo_instead_of_a_drawing(server, browser, shots, tmp_path):
    photo = tmp_path / "shirt.png"
    img = Image.new("RGB", (120, 160), "white")
    ImageDraw.Draw(img).rectangle([20, 20, 100, 140], fill=(40, 40, 120))
    img.save(photo)
    page = browser.new_page(viewport={"width": 1250, "height": 1000},
                            extra_http_headers={"Accept-Language": "es"})
    page.goto(server)
    page.wait_for_selector("#model option", state="attached")
    page.select_option("#model", "clothes")
    assert page.locator("#pad").is_hidden()
    assert page.locator("#draw-title").inner_text() == "Sube una foto"
    page.set_input_files("#file", str(photo))
    page.wait_for_selector(".bar.top")
    names = [page.locator(".bar .name").nth(i).inner_text() for i in range(10)]
    assert "T-shirt/top" in names or "Shirt" in names
    page.close()
