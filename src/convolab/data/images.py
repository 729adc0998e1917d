"""Read image files safely: every failure is a ConvolabError that names the file.

Images larger than `MAX_PIXELS` are refused before they are decoded, so a 20000x20000
image cannot exhaust memory.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ConvolabError

#: Largest image (width x height) convolab decodes: 50 megapixels, above any phone photo.
MAX_PIXELS = 50_000_000

#: The image types convolab decodes (PIL's names), whatever a file is called.
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")

#: File suffixes treated as images when a folder is scanned.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


class ImageTooLarge(ConvolabError):
    """An image above MAX_PIXELS (refused before decoding)."""


class NotAnImage(ConvolabError):
    """Bytes that are none of the IMAGE_FORMATS."""


def read_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image file, or raise a ConvolabError naming it."""
    path = Path(path)
    if not path.exists():
        raise ConvolabError(f"image {path} does not exist; check the path")
    if path.is_dir():
        raise ConvolabError(f"image {path} is a folder, not an image file")
    if path.stat().st_size == 0:
        raise ConvolabError(f"image {path} is empty (0 bytes); replace it with a real image")
    return decode_image(path, f"image {path}")


def read_image_bytes(data: bytes, name: str = "the upload",
                     max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode an image sent as bytes (an upload), or raise a ConvolabError naming `name`."""
    if not data:
        raise ConvolabError(f"{name} is empty (0 bytes); send a PNG, JPEG, GIF, BMP or WebP "
                            f"image")
    return decode_image(io.BytesIO(data), name, max_pixels)


def decode_image(source, name: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode `source` (a path or a binary file) after checking its size and real type.

    The type comes from the bytes (PIL's identification, limited to IMAGE_FORMATS), never
    from a file name; the size is read from the header before any pixel is decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=IMAGE_FORMATS) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageTooLarge(
                        f"{name} is {width}x{height} pixels, above the limit of "
                        f"{max_pixels:,} pixels; shrink it before using it")
                img.load()
                return img.copy()
    except ConvolabError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(f"{name} is larger than the limit of {max_pixels:,} pixels; "
                            f"shrink it before using it")
    except UnidentifiedImageError:
        subject = name[len("image "):] if name.startswith("image ") else name
        raise NotAnImage(f"{subject} is not an image convolab can read (PNG, JPEG, GIF, BMP "
                         f"or WebP); remove it or convert it")
    except (OSError, SyntaxError, ValueError) as exc:
        raise ConvolabError(f"{name} is corrupt or truncated ({exc}); "
                            f"replace it with a complete file")


def normalize_image(img: Image.Image) -> Image.Image:
    """An 8-bit "L" (greyscale) or "RGB" image, whatever the file held.

    The EXIF orientation is applied; 16/32-bit integer images are scaled from 0..65535 and
    float images clipped to 0..255; transparency is laid onto white paper; palette images
    whose colours are all grey become "L".
    """
    img = ImageOps.exif_transpose(img)
    if img.mode.startswith("I") or img.mode == "F":
        scale = 257.0 if img.mode.startswith("I") else 1.0
        a = np.asarray(img, dtype=np.float64) / scale
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
    if img.mode in ("1", "L"):
        return img.convert("L")
    transparent = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    if transparent:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba).convert("RGB")
        grey_source = rgba.mode == "LA"
    else:
        grey_source = False
        img = img.convert("RGB")
    rgb = np.asarray(img)
    if grey_source or img.mode == "L" or ((rgb == rgb[..., :1]).all()):
        return img.convert("L")
    return img
