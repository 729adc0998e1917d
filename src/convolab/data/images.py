"""Read image files safely: every failure is a ConvolabError that names the file.

Images larger than `MAX_PIXELS` are refused before they are decoded, so a 20000x20000
image cannot exhaust memory.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import ConvolabError

#: Largest image (width x height) convolab decodes: 50 megapixels, above any phone photo.
MAX_PIXELS = 50_000_000

#: File suffixes treated as images when a folder is scanned.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def read_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image file, or raise a ConvolabError naming it."""
    path = Path(path)
    if not path.exists():
        raise ConvolabError(f"image {path} does not exist; check the path")
    if path.is_dir():
        raise ConvolabError(f"image {path} is a folder, not an image file")
    if path.stat().st_size == 0:
        raise ConvolabError(f"image {path} is empty (0 bytes); replace it with a real image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise ConvolabError(
                        f"image {path} is {width}x{height} pixels, above the limit of "
                        f"{MAX_PIXELS:,} pixels; shrink it before using it")
                img.load()
                return img.copy()
    except ConvolabError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ConvolabError(f"image {path} is larger than the limit of {MAX_PIXELS:,} pixels; "
                            f"shrink it before using it")
    except UnidentifiedImageError:
        raise ConvolabError(f"{path} is not an image convolab can read (PNG, JPEG, BMP or GIF); "
                            f"remove it or convert it")
    except (OSError, SyntaxError, ValueError) as exc:
        raise ConvolabError(f"image {path} is corrupt or truncated ({exc}); "
                            f"replace it with a complete file")
