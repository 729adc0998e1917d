"""`convolab serve`'s API in process (httpx): the TensorFlow Serving shape, the same answers
as `convolab predict`, the ONNX path, and every limit and bad input answered in one line."""

import asyncio
import base64
import io
import json
import shutil
import socket

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

import convolab
from backends import export_needs_tensorflow
from cli_helpers import assert_user_error, huge_png, run_cli
from convolab.errors import ConvolabError
from convolab.export import export_run
from convolab.serve.api import create_app
from convolab.serve.limits import Limits
from convolab.serve.models import load_models, model_names

# The fixture serves an ONNX export beside the Keras model.
pytestmark = export_needs_tensorflow


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two copies of one tiny seed-cnn run, the second with its ONNX export."""
    root = tmp_path_factory.mktemp("serve")
    plain = root / "tiny run"
    convolab.train({"data": {"train_samples": 600}, "train": {"epochs": 1},
                    "out": str(plain)}, verbose=0)
    onnx = root / "exported"
    shutil.copytree(plain, onnx)
    export_run(onnx, "onnx")
    return plain, onnx


@pytest.fixture(scope="module")
def models(runs):
    return load_models(list(runs))


def call(models, method, path, limits=None, **kwargs):
    """One request to the app, in process."""
    app = create_app(models, limits)

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def digit_png(size=60, value=255) -> bytes:
    img = Image.new("L", (size, size), value)
    ImageDraw.Draw(img).line([(size // 2, 8), (size // 2, size - 8)], fill=0, width=5)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


def test_models_are_listed_with_classes_shape_and_accuracy(models, runs):
    assert list(models) == ["tiny-run", "exported"]  # names from the folders, made URL-safe
    listed = call(models, "GET", "/v1/models").json()["models"]
    assert [m["name"] for m in listed] == ["tiny-run", "exported"]
    first = listed[0]
    assert first["classes"] == [str(i) for i in range(10)]
    assert first["input_shape"] == [28, 28, 1] and first["canvas"] is True
    assert first["test_accuracy"] == convolab.Run.load(runs[0]).metrics["test_accuracy"]
    assert [m["engine"] for m in listed] == ["keras", "onnx"]
    status = call(models, "GET", "/v1/models/exported").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    assert call(models, "GET", "/healthz").json() == {"status": "ok"}
    assert call(models, "GET", "/readyz").json()["status"] == "ready"


def test_predict_pixels_and_images_as_convolab_predict_does(models, runs, tmp_path):
    run = convolab.Run.load(runs[0])
    pixels = run.test_set().x_test[:3].astype("float32")  # (3, 28, 28, 1) raw 0-255
    png = tmp_path / "digit.png"
    png.write_bytes(digit_png())
    body = {"instances": [p[..., 0].tolist() for p in pixels] + [b64(png.read_bytes())]}
    answer = call(models, "POST", "/v1/models/tiny-run:predict", json=body).json()
    got = np.array(answer["predictions"])
    assert got.shape == (4, 10)
    np.testing.assert_allclose(got[:3], run.predict(pixels), atol=1e-5)
    results, errors = run.predict_files([str(png)], top_k=10)
    assert not errors
    expected = dict(results[0]["top"])
    np.testing.assert_allclose(got[3], [expected[c] for c in run.class_names], atol=1e-5)
    assert answer["labels"][3] == results[0]["label"]


def test_the_onnx_path_answers_like_keras(models):
    body = {"instances": [b64(digit_png()), b64(digit_png(90, 230))]}
    keras_answer = call(models, "POST", "/v1/models/tiny-run:predict", json=body).json()
    onnx_answer = call(models, "POST", "/v1/models/exported:predict", json=body).json()
    np.testing.assert_allclose(onnx_answer["predictions"], keras_answer["predictions"],
                               atol=1e-5)


def test_an_upload_gets_its_label_top_classes_and_prepared_input(models):
    answer = call(models, "POST", "/v1/models/tiny-run/image",
                  files={"file": ("d.png", digit_png(), "image/png")}).json()
    assert answer["label"] == answer["top"][0][0]
    assert answer["probability"] == pytest.approx(max(answer["predictions"]))
    prepared = np.array(answer["input"])
    assert prepared.shape == (28, 28) and prepared.max() > 200 and prepared[0].max() == 0


def _error(response, status, *words):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and "\n" not in body["error"]
    assert "Traceback" not in response.text
    for word in words:
        assert word in body["error"], body["error"]


@pytest.mark.parametrize("body, status, words", [
    ({}, 422, ["instances: missing"]),
    ({"instances": "x"}, 422, ["instances: must be a non-empty list"]),
    ({"instances": []}, 422, ["non-empty"]),
    ({"instances": [[[0] * 28] * 28], "extra": 1}, 422, ["extra: unknown field"]),
    ({"instances": [[[0] * 28] * 28, [[0] * 27] * 28]}, 422,
     ["instances[1]", "expected shape [28, 28], got [28, 27]"]),
    ({"instances": [[[300] * 28] * 28]}, 422, ["instances[0]", "0 to 255"]),
    ({"instances": [[["a"] * 28] * 28]}, 422, ["instances[0]", "numbers"]),
    ({"instances": [{"b64": "not base64!"}]}, 422, ["instances[0].b64: not valid base64"]),
    ({"instances": [{"b64": "", "x": 1}]}, 422, ["instances[0]", "{\"b64\""]),
    ({"instances": [{"b64": base64.b64encode(b"%PDF-1.4 hello").decode()}]}, 415,
     ["instances[0].b64 is not an image"]),
    ({"instances": [[[0] * 28] * 28] * 5}, 413, ["5 in one request", "limit of 4"]),
])
def test_bad_predict_bodies(models, body, status, words):
    response = call(models, "POST", "/v1/models/tiny-run:predict", Limits(max_batch=4),
                    json=body)
    _error(response, status, *words)


def test_limits_and_types_of_raw_bodies_and_uploads(models, tmp_path):
    small = Limits(max_body_bytes=50_000)
    _error(call(models, "POST", "/v1/models/tiny-run:predict", small,
                content=b"{" + b" " * 60_000 + b"}",
                headers={"content-type": "application/json"}), 413, "limit of 50,000 bytes")

    async def chunks():  # no Content-Length: refused while it streams in
        for _ in range(10):
            yield b" " * 10_000

    _error(call(models, "POST", "/v1/models/tiny-run:predict", small, content=chunks(),
                headers={"content-type": "application/json"}), 413, "limit")
    _error(call(models, "POST", "/v1/models/tiny-run:predict", content=b"<xml/>",
                headers={"content-type": "text/xml"}), 415, "must be JSON")
    _error(call(models, "POST", "/v1/models/tiny-run:predict", content=b"{nope",
                headers={"content-type": "application/json"}), 422, "not valid JSON")
    bomb = huge_png(tmp_path / "bomb.png").read_bytes()  # 20000x20000 in a few bytes
    _error(call(models, "POST", "/v1/models/tiny-run/image",
                files={"file": ("b.png", bomb, "image/png")}), 413, "b.png",
           "larger than the limit of 16,000,000 pixels")
    _error(call(models, "POST", "/v1/models/tiny-run/image",
                files={"file": ("cut.png", digit_png()[:80], "image/png")}), 422,
           "cut.png is corrupt or truncated")
    _error(call(models, "POST", "/v1/models/tiny-run/image",
                files={"file": ("notes.png", b"just some text", "image/png")}), 415,
           "notes.png is not an image")
    _error(call(models, "POST", "/v1/models/tiny-run/image",
                files={"file": ("empty.png", b"", "image/png")}), 422, "empty")
    _error(call(models, "POST", "/v1/models/tiny-run/image", data={"x": "1"}), 422,
           "file: missing", "multipart form field 'file'")


def test_unknown_models_paths_and_methods(models):
    _error(call(models, "POST", "/v1/models/nope:predict", json={"instances": [1]}),
           404, "no model named 'nope'", "loaded: tiny-run, exported")
    _error(call(models, "POST", "/v1/models/..%2F..%2Fetc:predict", json={"instances": [1]}),
           404)  # a name is looked up among the loaded runs, never used as a path
    _error(call(models, "GET", "/v1/nothing"), 404, "no such path")
    _error(call(models, "DELETE", "/v1/models"), 405, "DELETE is not allowed")


def test_docs_describe_every_endpoint_without_a_cdn(models):
    page = call(models, "GET", "/docs").text
    for path in ("/v1/models", "/v1/models/{name}:predict", "/v1/models/{name}/image",
                 "/healthz", "/readyz"):
        assert path in page
    assert "http://" not in page and "https://" not in page
    schema = call(models, "GET", "/openapi.json").json()
    assert "/v1/models/{name}:predict" in schema["paths"]


def test_model_names_are_safe_and_unique(tmp_path):
    names = model_names([tmp_path / "a b", tmp_path / "x" / "a b", tmp_path / "ñ?*"])
    assert names == ["a-b", "a-b-2", "model"]


def test_runs_that_cannot_be_served_are_refused(tmp_path):
    with pytest.raises(ConvolabError, match="does not exist"):
        load_models([tmp_path / "missing"])
    (tmp_path / "half.partial").mkdir()
    with pytest.raises(ConvolabError, match="not a finished run directory"):
        load_models([tmp_path / "half.partial"])
    with pytest.raises(ConvolabError, match="at least one run directory"):
        load_models([])


def test_serve_command_refuses_bad_addresses_at_once(capsys, runs):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        code, _, err = run_cli(capsys, "serve", runs[0], "--port", port)
        assert_user_error(code, err, f"127.0.0.1:{port}", "another --port")
    code, _, err = run_cli(capsys, "serve", runs[0], "--port", 70000)
    assert_user_error(code, err, "--port must be from 1 to 65535")
    code, _, err = run_cli(capsys, "serve", runs[0], "--max-batch", 0)
    assert_user_error(code, err, "--max-batch")


def test_a_transfer_run_is_served_and_says_its_maps_are_inside_the_base(tmp_path):
    out = tmp_path / "lite"
    convolab.train({"data": {"name": "digits", "train_samples": 100,
                             "validation_split": 0.2},
                    "model": {"backbone": "efficientnet_lite0", "weights": "none",
                              "base_size": 32},
                    "train": {"epochs": 1, "batch_size": 16},
                    "transfer": {"freeze_epochs": 1}, "out": str(out)}, verbose=0)
    served = load_models([out])
    listed = call(served, "GET", "/v1/models").json()["models"][0]
    assert listed["model"] == "efficientnet_lite0" and listed["canvas"] is True  # digits
    pixels = convolab.Run.load(out).test_set().x_test[:2].astype("float32")
    answer = call(served, "POST", "/v1/models/lite:predict",
                  json={"instances": [p[..., 0].tolist() for p in pixels]}).json()
    np.testing.assert_allclose(answer["predictions"], convolab.Run.load(out).predict(pixels),
                               atol=1e-5)
    seen = call(served, "POST", "/v1/models/lite:inspect",
                json={"instances": [b64(digit_png())]}).json()
    assert seen["layers"] == [] and seen["explain"] is False
    assert "cannot walk through" in seen["explain_note"]
    _error(call(served, "POST", "/v1/models/lite:explain",
                json={"instances": [b64(digit_png())], "row": 0, "col": 0}), 422,
           "cannot walk through")
