"""The HTTP API, in TensorFlow Serving's REST shape where it fits.

    GET  /v1/models                    the loaded models: name, classes, input shape, accuracy
    GET  /v1/models/{name}             one model, with TF Serving's model_version_status
    POST /v1/models/{name}:predict     {"instances": [pixel arrays or {"b64": image}]}
    POST /v1/models/{name}/image       a multipart upload (field "file")
    GET  /healthz, /readyz             liveness and readiness
    GET  /docs, /openapi.json          the API described (a self-contained page)

Every error is {"error": "one line"} with its status: 404 unknown model or path, 413 too
large (body, image pixels, batch), 415 not an image or not JSON, 422 a field is wrong
(named), 500 a failure of the server itself (never a traceback in the answer).
"""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations.
import base64
import binascii
import json
import logging

import numpy as np
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from ..data.images import ImageTooLarge, NotAnImage, read_image_bytes
from ..errors import ConvolabError
from ..i18n import LANGUAGES, pick_language
from .limits import ApiError, BodyLimit, Limits
from .models import ServedModel
from .page import STATIC_DIR, render_page

log = logging.getLogger("convolab.serve")

PREDICT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["instances"],
        "properties": {"instances": {
            "type": "array", "description": "pixel arrays (H x W, or H x W x C, numbers "
                                            "0-255, the model's raw input) or "
                                            "{\"b64\": base64 image file} objects, prepared "
                                            "as `convolab predict` prepares photos",
            "items": {}}},
        "example": {"instances": [{"b64": "iVBORw0KGgo..."}]}}}},
}


def _model(models: dict[str, ServedModel], name: str) -> ServedModel:
    if name not in models:
        raise ApiError(404, f"no model named {name!r}; loaded: {', '.join(models)}")
    return models[name]


def _image_input(model: ServedModel, data: bytes, where: str, limits: Limits) -> np.ndarray:
    """Bytes of an image file as model input, with the API's status for each failure."""
    try:
        return model.prepare(read_image_bytes(data, where, limits.max_pixels))
    except ImageTooLarge as exc:
        raise ApiError(413, str(exc))
    except NotAnImage as exc:
        raise ApiError(415, str(exc))
    except ConvolabError as exc:
        raise ApiError(422, str(exc))


def _instance(model: ServedModel, value, where: str, limits: Limits) -> np.ndarray:
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise ApiError(422, f"{where}: an object instance must be {{\"b64\": \"<base64 "
                                f"image file>\"}}, got keys {sorted(value)}")
        try:
            data = base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(422, f"{where}.b64: not valid base64")
        return _image_input(model, data, f"{where}.b64", limits)
    try:
        return model.check_pixels(value, where)
    except ConvolabError as exc:
        raise ApiError(422, str(exc))


def _payload(body: bytes, content_type: str, fields: tuple[str, ...]) -> dict:
    """The JSON object of a request, with only `fields` (and TF Serving's signature_name)."""
    if content_type and "json" not in content_type:
        raise ApiError(415, f"the body must be JSON (Content-Type: application/json), got "
                            f"{content_type}")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(422, f"the body is not valid JSON ({exc})")
    except RecursionError:
        raise ApiError(422, "the body's JSON is nested too deeply")
    if not isinstance(payload, dict):
        raise ApiError(422, "the body must be a JSON object: {\"instances\": [...]}")
    unknown = sorted(set(payload) - {*fields, "signature_name"})
    if unknown:
        raise ApiError(422, f"{unknown[0]}: unknown field; the fields are "
                            f"{', '.join(fields)}")
    return payload


def _instances(payload: dict, limit: int, exactly_one: bool = False) -> list:
    if "instances" not in payload:
        raise ApiError(422, "instances: missing; send {\"instances\": [...]}")
    instances = payload["instances"]
    if not isinstance(instances, list) or not instances:
        raise ApiError(422, "instances: must be a non-empty list")
    if exactly_one and len(instances) != 1:
        raise ApiError(422, f"instances: this request takes exactly one image, got "
                            f"{len(instances)}")
    if len(instances) > limit:
        raise ApiError(413, f"instances: {len(instances)} in one request, more than the limit "
                            f"of {limit}; split them over several requests")
    return instances


def _index(payload: dict, field: str, size: int) -> int:
    value = payload.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(422, f"{field}: missing or not a whole number")
    if not 0 <= value < size:
        raise ApiError(422, f"{field}: {value} is outside 0..{size - 1} (the first "
                            f"convolution's output)")
    return value


def _result(model: ServedModel, probs: np.ndarray, top_k: int = 3) -> dict:
    order = np.argsort(-probs)[:top_k]
    return {"label": model.class_names[order[0]], "probability": float(probs[order[0]]),
            "top": [[model.class_names[i], float(probs[i])] for i in order]}


def create_app(models: dict[str, ServedModel], limits: Limits | None = None):
    """The ASGI app serving `models` (see the module docstring), with its body limit."""
    from .docs import docs_page
    from .inspect import Inspector

    limits = limits or Limits()
    inspectors = {name: Inspector(model) for name, model in models.items()}
    app = FastAPI(title="convolab", docs_url=None, redoc_url=None,
                  description="Predictions of convolab runs, in TensorFlow Serving's REST shape.")

    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "the request"
        problem = first.get("msg", "invalid")
        if first.get("type") == "missing":
            problem = "missing; send the image file as the multipart form field 'file'" \
                if where == "file" else "missing"
        return JSONResponse({"error": f"{where}: {problem}"}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        message = {404: f"no such path {request.url.path}; see /docs",
                   405: f"{request.method} is not allowed on {request.url.path}; see /docs"}
        return JSONResponse({"error": message.get(exc.status_code, str(exc.detail))},
                            status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def failure(request, exc: Exception):
        log.exception("request %s failed", request.url.path)
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server's "
                                      f"log has the details"}, status_code=500)

    @app.get("/healthz", summary="The server is up")
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz", summary="Every model is loaded and answered a warm-up prediction")
    def readyz():
        return {"status": "ready", "models": list(models)}

    @app.get("/v1/models", summary="The loaded models")
    def list_models():
        return {"models": [m.describe() for m in models.values()]}

    @app.get("/v1/models/{name}", summary="One model (with TF Serving's version status)")
    def model_status(name: str):
        model = _model(models, name)
        return {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                          "status": {"error_code": "OK",
                                                     "error_message": ""}}],
                **model.describe()}

    @app.post("/v1/models/{name}:predict", summary="Class probabilities of instances",
              openapi_extra={"requestBody": PREDICT_BODY})
    async def predict(name: str, request: Request):
        model = _model(models, name)
        payload = _payload(await request.body(), request.headers.get("content-type", ""),
                           ("instances",))
        instances = _instances(payload, limits.max_batch)

        def work():
            batch = np.stack([_instance(model, value, f"instances[{i}]", limits)
                              for i, value in enumerate(instances)])
            probs = model.predict(batch)
            return {"predictions": probs.tolist(),
                    "labels": [model.class_names[int(i)] for i in probs.argmax(axis=1)]}

        return await run_in_threadpool(work)

    @app.post("/v1/models/{name}/image", summary="Classify one uploaded image file")
    async def image(name: str, file: UploadFile = File(..., description="the image file")):
        model = _model(models, name)
        data = await file.read()

        def work():
            pixels = _image_input(model, data, f"the upload {file.filename or ''}".strip(),
                                  limits)
            probs = model.predict(pixels[None])[0]
            return {**_result(model, probs), "predictions": probs.tolist(),
                    "input": np.rint(pixels[..., 0]).astype(int).tolist()}

        return await run_in_threadpool(work)

    async def one_input(name: str, request: Request, fields: tuple[str, ...]):
        """(inspector, model input, payload) of a page request about one image."""
        model = _model(models, name)
        payload = _payload(await request.body(), request.headers.get("content-type", ""),
                           fields)
        instance = _instances(payload, 1, exactly_one=True)[0]
        pixels = await run_in_threadpool(_instance, model, instance, "instances[0]", limits)
        return inspectors[name], pixels, payload

    @app.post("/v1/models/{name}:inspect", summary="What the page shows of one image: the "
              "prepared input, probabilities, feature maps and kernels",
              openapi_extra={"requestBody": PREDICT_BODY})
    async def inspect(name: str, request: Request):
        inspector, pixels, _ = await one_input(name, request, ("instances",))
        return await run_in_threadpool(inspector.inspect, pixels)

    @app.post("/v1/models/{name}:explain", summary="One convolution of one image written "
              "out (at row, col of the first convolution's output), layer by layer")
    async def explain(name: str, request: Request):
        inspector, pixels, payload = await one_input(name, request,
                                                     ("instances", "row", "col", "lang"))
        lang = payload.get("lang", "en")
        if not isinstance(lang, str) or lang not in LANGUAGES:
            raise ApiError(422, f"lang: {lang!r} is not one of {', '.join(LANGUAGES)}")
        if not inspector.can_explain:
            raise ApiError(422, inspector.explain_note or f"model {name} has no convolution "
                                                          f"to write out")
        height, width = inspector.first_conv_shape
        row, col = _index(payload, "row", height), _index(payload, "col", width)
        try:
            sections = await run_in_threadpool(inspector.explain, pixels, row, col, lang)
        except ConvolabError as exc:
            raise ApiError(422, str(exc))
        return {"sections": sections}

    @app.get("/", include_in_schema=False)
    def page(request: Request, lang: str | None = None):
        chosen = pick_language(request.headers.get("accept-language"), lang)
        return HTMLResponse(render_page(chosen), headers={"Content-Language": chosen,
                                                          "Vary": "Accept-Language"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return HTMLResponse(docs_page(app.openapi()))

    return BodyLimit(app, limits.max_body_bytes)
