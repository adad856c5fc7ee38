"""What a file is, by its content: ``filetype`` reads the magic bytes; Pillow decodes an image
(a JPEG header on a file that is not one is refused) and draws its preview."""

from __future__ import annotations

import io
import warnings

import filetype
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.attachments import TYPES, AttachmentKind, AttachmentUnreadable, Inspected

PREVIEW_PIXELS = 480
# Pillow's guard against decompression bombs, made an error instead of a warning: a 100 MB
# photo from a phone is ~50 megapixels; a 2 KB PNG that claims 100,000 × 100,000 is an attack.
MAX_IMAGE_PIXELS = 80_000_000


class ContentInspector:
    def inspect(self, data: bytes) -> Inspected | None:
        kind = filetype.guess(data[:8192])
        if kind is None or kind.mime not in TYPES:
            return None
        return Inspected(kind.mime, TYPES[kind.mime][0])

    def preview(self, data: bytes) -> bytes:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
                with Image.open(io.BytesIO(data)) as img:
                    img.load()
                    # Phones store the photo sideways and say so in EXIF: turn it upright
                    # before the metadata is dropped.
                    shown = ImageOps.exif_transpose(img) or img
                    shown = shown.convert("RGB")
                    shown.thumbnail((PREVIEW_PIXELS, PREVIEW_PIXELS))
                    out = io.BytesIO()
                    # No exif= argument: the preview carries no metadata (no GPS, no device).
                    shown.save(out, "JPEG", quality=80, optimize=True)
                    return out.getvalue()
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
                Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise AttachmentUnreadable(f"图片无法解码（{type(exc).__name__}）") from None


def is_image(inspected: Inspected) -> bool:
    return inspected.kind == AttachmentKind.IMAGE
