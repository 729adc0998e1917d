"""The page at `/` and its endpoints, in process: both languages, nothing from elsewhere,
feature maps and kernels of a drawing, and one convolution written out for a click."""

import asyncio
import base64
import io
import re

import httpx
import pytest
from PIL import Image, ImageDraw

import convolab
from convolab.serve.api import create_app
from convolab.serve.models import load_models
from convolab.serve.page import STATIC_DIR


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    out = tmp_path_factory.mktemp("page") / "digits"
    convolab.train({"data": {"train_samples": 600}, "train": {"epochs": 1}, "out": str(out)},
                   verbose=0)
    return create_app(load_models([out]))


def call(app, method, path, **kwargs):
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def drawing() -> dict:
    img = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(img).line([(140, 40), (130, 240)], fill=0, width=18)
    out = io.BytesIO()
    img.save(out, "PNG")
    return {"b64": base64.b64encode(out.getvalue()).decode()}


def test_the_page_speaks_the_browsers_language(app):
    spanish = call(app, "GET", "/", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"})
    assert spanish.headers["content-language"] == "es"
    assert '<html lang="es">' in spanish.text and "Dibuja un dígito" in spanish.text
    assert '"feature maps": "mapas de características"' in spanish.text  # for the script
    english = call(app, "GET", "/?lang=en", headers={"Accept-Language": "es"})
    assert '<html lang="en">' in english.text and "Draw a digit" in english.text
    assert 'href="?lang=es"' in english.text
    assert "{{" not in english.text and "{{" not in spanish.text


def test_the_page_needs_nothing_from_elsewhere(app):
    page = call(app, "GET", "/").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(not a.startswith(("http:", "https:", "//")) for a in assets)
    for name in ("app.js", "style.css"):
        answer = call(app, "GET", f"/static/{name}")
        assert answer.status_code == 200
        assert "http://" not in answer.text and "https://" not in answer.text
    assert call(app, "GET", "/static/../api.py").status_code == 404
    assert {p.name for p in STATIC_DIR.iterdir()} == {"index.html", "app.js", "style.css"}


def test_inspect_gives_input_probabilities_feature_maps_and_kernels(app):
    answer = call(app, "POST", "/v1/models/digits:inspect",
                  json={"instances": [drawing()]}).json()
    assert len(answer["input"]) == 28 and len(answer["input"][0]) == 28
    assert abs(sum(answer["probabilities"]) - 1) < 1e-4
    kinds = [layer["kind"] for layer in answer["layers"]]
    assert kinds == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D"]  # seed-cnn
    first = answer["layers"][0]
    assert first["shape"] == [26, 26, 32] and first["grid"] == [6, 6]
    picture = Image.open(io.BytesIO(base64.b64decode(first["png"].split(",")[1])))
    assert picture.size == (6 * 27 - 1, 6 * 27 - 1)  # 32 maps of 26x26 with 1 px gaps
    assert answer["kernels"]["shape"] == [3, 3, 1, 32]
    assert answer["explain"] is True


def test_a_click_writes_one_convolution_out(app):
    answer = call(app, "POST", "/v1/models/digits:explain",
                  json={"instances": [drawing()], "row": 12, "col": 13}).json()
    titles = [s["title"] for s in answer["sections"]]
    assert titles[0] == "Input: the drawing" and titles[-1] == "Check against Keras"
    conv = next(s for s in answer["sections"] if s["title"].endswith("Conv2D"))
    texts = " ".join(b.get("text", "") for b in conv["blocks"])
    assert "row 12, column 13" in texts and "products are added up" in texts
    assert any("side" in b for b in conv["blocks"])  # patch x kernel = products


@pytest.mark.parametrize("body, status, words", [
    ({"instances": [drawing()], "row": 26, "col": 0}, 422, "row: 26 is outside 0..25"),
    ({"instances": [drawing()], "row": 1}, 422, "col: missing"),
    ({"instances": [drawing(), drawing()], "row": 1, "col": 1}, 422, "exactly one image, got 2"),
    ({"instances": [drawing()], "row": 1, "col": 1, "x": 2}, 422, "x: unknown field"),
])
def test_bad_clicks(app, body, status, words):
    answer = call(app, "POST", "/v1/models/digits:explain", json=body)
    assert answer.status_code == status and words in answer.json()["error"]
