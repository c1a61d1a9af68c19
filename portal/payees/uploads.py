"""Check that an uploaded PNG or JPEG is a whole image, not only its first bytes.

Storage recognises a file by its magic bytes; a picture of a voided check must also decode.
Pillow verifies the file's structure (for a PNG, every chunk's checksum to its end) and then
decodes every pixel, after refusing an image too large to be a scan before it is decoded.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image

from portal.core.storage import InvalidUpload

# A 600 dpi colour scan of a letter-size page is about 34 million pixels.
MAX_PIXELS = 40_000_000
DAMAGED = "The image is incomplete or damaged."
TOO_LARGE = "The image is too large: scan it at 300 dpi or take a smaller photo."
FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}


def check_image(content_type: str, data: bytes) -> None:
    """Raise InvalidUpload unless ``data`` is a whole image of ``content_type``."""
    expected = FORMATS.get(content_type)
    if expected is None:
        return
    try:
        with warnings.catch_warnings():
            # A decompression bomb is refused by our own limit, never merely warned about.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[expected]) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise InvalidUpload(TOO_LARGE)
                image.verify()
            # verify() leaves the image unusable: decode it whole from a fresh open.
            with Image.open(io.BytesIO(data), formats=[expected]) as image:
                image.load()
    except InvalidUpload:
        raise
    # Pillow's errors for a file it cannot read (UnidentifiedImageError is an OSError).
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidUpload(DAMAGED) from error
