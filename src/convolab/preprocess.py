"""Turn user photos and scans into model input.

Two styles:

- ``"mnist"`` (for digit models): the classic MNIST preparation
  (LeCun et al.). The image becomes greyscale with bright ink on a black background (light
  paper is inverted); the paper level and its noise are subtracted so paper becomes 0, and
  specks are erased. The image is cropped to the ink, strokes too thin to survive the
  shrinking are thickened, the ink is scaled (aspect ratio kept, Lanczos) so its longer side
  is 20 px, and it is pasted into a 28x28 black field so that its centre of mass sits at the
  centre (14, 14). Other sizes scale the 20-in-28 box by the same ratio (e.g. 40 px in a
  56x56 input). An image without ink gives a blank (all-zero) input.
- ``"fashion"`` (Fashion-MNIST models): the Fashion-MNIST preparation (Xiao et al. 2017).
  Greyscale, a light background negated so the product is bright on black, the background
  level subtracted, the image trimmed to the product, its longer side resized to the full
  28 px (aspect kept) and the product centred. Unlike digits, shading is kept: no noise
  threshold, no speck removal, no stroke thickening.
- ``"resize"`` (any other model): convert to L or RGB to match the channels and resize to
  (H, W) with bilinear filtering, as training images of a folder dataset are resized.

Either way the result holds raw 0..255 values as float32, which is what a convolab model
takes (models rescale their input themselves).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from .data.images import IMAGE_SUFFIXES, normalize_image, read_image
from .errors import ConvolabError

STYLES = ("mnist", "fashion", "resize")

#: MNIST digits fit a 20x20 box inside the 28x28 field.
BOX_FRACTION = 20 / 28
#: An image whose ink differs from the paper by less than this (0..255) is treated as blank.
MIN_CONTRAST = 32.0
#: Pixels below this fraction of the ink's peak (above the paper level) become 0.
NOISE_FRACTION = 0.1
#: ... or below this many (robust) standard deviations of the paper's noise.
NOISE_SIGMAS = 4.0
#: Ink blobs holding less than this fraction of all the ink are specks of dirt or noise.
SPECK_FRACTION = 0.01
#: Strokes thinner than this (px, in the final 20 px box) are thickened ...
MIN_STROKE_PX = 1.5
#: ... to this width (px, in the final box); MNIST strokes are ~2-3 px wide.
TARGET_STROKE_PX = 2.0
#: The ink is first shrunk to this multiple of the final box, where thickening is cheap.
WORK_SCALE = 8


def _check_shape(input_shape) -> tuple[int, int, int]:
    """Validate an (H, W, C) model input shape with C of 1 or 3."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or shape[2] not in (1, 3) or min(shape[:2]) < 1:
        raise ConvolabError(f"model input shape {tuple(input_shape)} is not (height, width, "
                            f"channels) with 1 or 3 channels; images can only be prepared "
                            f"for greyscale or RGB models")
    return shape


def _check_style(style: str) -> None:
    """Raise a ConvolabError for an unknown preparation style."""
    if style not in STYLES:
        raise ConvolabError(f"image style {style!r} is not one of {', '.join(STYLES)}; use "
                            f"mnist for digit models, fashion for Fashion-MNIST models, "
                            f"resize otherwise")


def _border(a: np.ndarray) -> np.ndarray:
    """The pixels of a band around the edge of a 2-D array (2% of the shorter side, >= 1)."""
    band = max(1, round(0.02 * min(a.shape)))
    return np.concatenate([a[:band].ravel(), a[-band:].ravel(),
                           a[:, :band].ravel(), a[:, -band:].ravel()])


def _ink_on_black(grey: np.ndarray) -> np.ndarray | None:
    """Bright ink on a 0 background, scaled to a 255 peak; None when there is no ink.

    Light paper (border median > 127) is inverted first. Values up to the paper level
    (border median) plus `NOISE_FRACTION` of the ink contrast, or `NOISE_SIGMAS` times the
    paper's noise, whichever is larger, become 0.
    """
    if np.median(_border(grey)) > 127:
        grey = 255.0 - grey
    border = _border(grey)
    paper = float(np.median(border))
    spread = 1.4826 * float(np.median(np.abs(border - paper)))  # robust std of the paper
    peak = float(grey.max())
    if peak - paper < MIN_CONTRAST:
        return None
    threshold = paper + max(NOISE_FRACTION * (peak - paper), NOISE_SIGMAS * spread)
    if threshold >= peak:
        return None
    return np.clip((grey - threshold) / (peak - threshold), 0.0, 1.0) * 255.0


def _drop_specks(ink: np.ndarray) -> np.ndarray:
    """Erase connected ink blobs holding less than `SPECK_FRACTION` of all the ink."""
    labels, count = ndimage.label(ink > 0, structure=np.ones((3, 3)))
    if count <= 1:
        return ink
    mass = ndimage.sum_labels(ink, labels, index=np.arange(1, count + 1))  # (count,)
    keep = np.concatenate([[False], mass >= SPECK_FRACTION * mass.sum()])
    return np.where(keep[labels], ink, 0.0)


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width (px) of a binary ink mask: 2 x area / perimeter."""
    area = mask.sum()
    padded = np.pad(mask, 1).astype(np.int8)
    perimeter = np.abs(np.diff(padded, axis=0)).sum() + np.abs(np.diff(padded, axis=1)).sum()
    return 2.0 * area / max(perimeter, 1)


def _fit(ink: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize an "L" image to fit inside (width, height), keeping its aspect ratio."""
    scale = min(size[0] / ink.width, size[1] / ink.height)
    new = (max(1, round(ink.width * scale)), max(1, round(ink.height * scale)))
    return ink.resize(new, Image.LANCZOS)


def _thicken(ink: Image.Image, box: tuple[int, int]) -> Image.Image:
    """Shrink `ink` to `WORK_SCALE` x `box` and widen strokes that would end up too thin."""
    work = (box[0] * WORK_SCALE, box[1] * WORK_SCALE)
    if ink.width > work[0] or ink.height > work[1]:
        ink = _fit(ink, work)
    a = np.asarray(ink, dtype=np.float32)
    if a.max() > 0:
        a = a * (255.0 / a.max())  # shrinking greys thin strokes; judge them at full ink
    scale = min(box[0] / ink.width, box[1] / ink.height)  # work px -> final px
    width = _stroke_width(a > 127)
    if width * scale >= MIN_STROKE_PX:
        return ink
    grow = round(TARGET_STROKE_PX / scale - width)  # extra work px the stroke needs
    size = 2 * (grow // 2) + 1  # MaxFilter needs an odd size; it adds size - 1 px
    if size < 3:
        return ink
    margin = size // 2  # room for the strokes to grow past the crop's edges
    padded = Image.new("L", (ink.width + 2 * margin, ink.height + 2 * margin), 0)
    padded.paste(ink, (margin, margin))
    thick = padded.filter(ImageFilter.MaxFilter(size))
    return thick.crop(thick.getbbox())


def _centre_by_mass(digit: np.ndarray, height: int, width: int) -> np.ndarray:
    """Paste `digit` into a black (height, width) field with its centre of mass centred."""
    rows, cols = np.indices(digit.shape)
    total = digit.sum()
    cy, cx = (rows * digit).sum() / total, (cols * digit).sum() / total
    top = int(np.clip(round(height / 2 - cy), 0, height - digit.shape[0]))
    left = int(np.clip(round(width / 2 - cx), 0, width - digit.shape[1]))
    field = np.zeros((height, width), dtype=np.float32)
    field[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return field


def _prepare_mnist(img: Image.Image, height: int, width: int) -> np.ndarray:
    """MNIST-style preparation; returns float32 (height, width) in 0..255."""
    grey = np.asarray(img.convert("L"), dtype=np.float32)
    ink = _ink_on_black(grey)
    if ink is None:
        return np.zeros((height, width), dtype=np.float32)
    ink = _drop_specks(ink)
    rows, cols = np.nonzero(ink)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    box = (max(1, round(width * BOX_FRACTION)), max(1, round(height * BOX_FRACTION)))
    crop_img = Image.fromarray(np.round(crop).astype(np.uint8))  # mode "L"
    digit = np.asarray(_fit(_thicken(crop_img, box), box), dtype=np.float32)
    if digit.max() <= 0:
        return np.zeros((height, width), dtype=np.float32)
    digit = digit * (255.0 / digit.max())  # keep the ink's peak at 255 after shrinking
    return _centre_by_mass(digit, height, width)


def _prepare_fashion(img: Image.Image, height: int, width: int) -> np.ndarray:
    """Fashion-MNIST-style preparation; returns float32 (height, width) in 0..255."""
    grey = np.asarray(img.convert("L"), dtype=np.float32)
    if np.median(_border(grey)) > 127:
        grey = 255.0 - grey  # the product becomes bright on black
    product = np.clip(grey - float(np.median(_border(grey))), 0.0, 255.0)
    rows, cols = np.nonzero(product > MIN_CONTRAST / 2)
    if len(rows) == 0:
        return np.zeros((height, width), dtype=np.float32)
    crop = product[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    fitted = np.asarray(_fit(Image.fromarray(np.round(crop).astype(np.uint8)),
                             (width, height)), dtype=np.float32)
    top, left = (height - fitted.shape[0]) // 2, (width - fitted.shape[1]) // 2
    field = np.zeros((height, width), dtype=np.float32)
    field[top:top + fitted.shape[0], left:left + fitted.shape[1]] = fitted
    return field


def prepare_image(img: Image.Image, input_shape: tuple[int, int, int],
                  style: str) -> np.ndarray:
    """Turn one PIL image into model input: float32 (H, W, C) with raw 0..255 values.

    Args:
        img: any PIL image (greyscale, RGB, with or without transparency).
        input_shape: the model's (H, W, C); C must be 1 or 3.
        style: "mnist" for the MNIST preparation (crop, 20-in-28 box, centre of mass),
            "fashion" for the Fashion-MNIST one (trim, fit 28, centre, shading kept),
            "resize" to simply resize to (H, W). See the module docstring.
    """
    height, width, channels = _check_shape(input_shape)
    _check_style(style)
    img = normalize_image(img)
    if style in ("mnist", "fashion"):
        prepare = _prepare_mnist if style == "mnist" else _prepare_fashion
        grey = prepare(img, height, width)[:, :, None]  # (H, W, 1)
        return np.repeat(grey, channels, axis=2).astype(np.float32)
    img = img.convert("L" if channels == 1 else "RGB")
    if img.size != (width, height):
        img = img.resize((width, height), Image.BILINEAR)  # as folder datasets are resized
    return np.asarray(img, dtype=np.float32).reshape(height, width, channels)


def expand_image_paths(paths: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Replace each folder by its image files (sorted, not recursive).

    Returns (files, errors): errors are (path, one-line message) for a path that does not
    exist and a folder without images. Reads no image, so it answers at once.
    """
    files: list[Path] = []
    errors: list[tuple[str, str]] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            errors.append((str(path), f"image {path} does not exist; check the path"))
            continue
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(p for p in path.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            errors.append((str(path), f"folder {path} holds no image files "
                                      f"({', '.join(IMAGE_SUFFIXES)}); add images or pass "
                                      f"image files"))
        files.extend(found)
    return files, errors


def image_files_or_error(paths) -> tuple[list[Path], list[tuple[str, str]]]:
    """`expand_image_paths`, with a ConvolabError when no path gives an image file."""
    files, errors = expand_image_paths([str(p) for p in paths])
    if not files:
        more = f" (and {len(errors) - 1} more like it)" if len(errors) > 1 else ""
        raise ConvolabError(errors[0][1] + more)
    return files, errors


def prepare_files(paths: list[str | os.PathLike], input_shape: tuple[int, int, int],
                  style: str) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
    """Read and prepare image files and folders; a bad file is reported, not raised.

    Folders are expanded to the files in them whose suffix is one of `IMAGE_SUFFIXES`
    (sorted by name, not recursive). Each file is read with `read_image` and prepared with
    `prepare_image`.

    Returns:
        (batch, ok_paths, errors): batch is float32 (N, H, W, C) for the N files that
        loaded, ok_paths their paths in the same order, and errors a list of
        (path, one-line message) for every path that could not be used (missing, empty,
        truncated, not an image, a folder without images).
    """
    height, width, channels = _check_shape(input_shape)
    _check_style(style)  # here too, so a bad style is not reported once per file
    files, errors = expand_image_paths([str(p) for p in paths])
    images: list[np.ndarray] = []
    ok_paths: list[str] = []
    for path in files:
        try:
            images.append(prepare_image(read_image(path), (height, width, channels), style))
        except ConvolabError as exc:
            errors.append((str(path), str(exc)))
            continue
        ok_paths.append(str(path))
    if images:
        batch = np.stack(images).astype(np.float32)
    else:
        batch = np.zeros((0, height, width, channels), dtype=np.float32)
    return batch, ok_paths, errors
