r"""PNG images whose size is known before their pixels: 8-bit RGB, zlib stream of stored deflate blocks.

The Roman archive puts a ``_preview.png`` and a ``_thumb.png`` beside each calibrated image.
The sandbox lists hundreds of thousands of them with their sizes before any pixel exists, so
their compressed length cannot depend on the pixels: the image data go into one ``IDAT``
chunk holding a zlib stream (RFC 1950) of *stored* deflate blocks (RFC 1951 3.2.4, at most
65,535 bytes each, no compression), whose length is a closed form of the image's width and
height (:func:`png_size`). Every PNG reader inflates stored blocks like any others. The
encoder is written here because no library writes stored blocks of a known count:
``zlib.compress(level=0)`` chooses its own block lengths (they differ between zlib and
zlib-ng), and PIL and matplotlib compress.

Examples
--------
>>> import numpy as np
>>> rgb = np.zeros((2, 3, 3), np.uint8)
>>> data = png_bytes(rgb)
>>> data[:8], len(data) == png_size(3, 2)
(b'\x89PNG\r\n\x1a\n', True)
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

__all__ = ["STORED_BLOCK", "png_bytes", "png_size"]

#: Longest stored deflate block (its LEN field is 16 bits).
STORED_BLOCK = 65535
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _zlib_length(raw: int) -> int:
    blocks = max(1, math.ceil(raw / STORED_BLOCK))
    return 2 + 5 * blocks + raw + 4  # header, block headers, data, Adler-32


def png_size(width: int, height: int) -> int:
    """Length of the PNG :func:`png_bytes` writes for an RGB image of ``width`` x ``height``.

    Signature, ``IHDR`` (25 bytes), one ``IDAT`` (12 bytes of chunk framing around the zlib
    stream of the rows, each row a filter byte and ``3 * width`` bytes) and ``IEND`` (12).

    Examples
    --------
    >>> png_size(1080, 1080), png_size(300, 300)
    (3500613, 270388)
    """
    raw = height * (1 + 3 * width)
    return len(_SIGNATURE) + 25 + 12 + _zlib_length(raw) + 12


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an 8-bit RGB image (``(height, width, 3)``, row 0 at the top) as a PNG of stored blocks.

    Parameters
    ----------
    rgb : ndarray of uint8

    Returns
    -------
    bytes
        Exactly :func:`png_size` ``(width, height)`` bytes.
    """
    image = np.ascontiguousarray(rgb, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"an RGB image is (height, width, 3), not {image.shape}")
    height, width = image.shape[:2]
    rows = np.zeros((height, 1 + 3 * width), np.uint8)  # filter type 0 (None) before each row
    rows[:, 1:] = image.reshape(height, 3 * width)
    raw = rows.tobytes()
    stream = [b"\x78\x01"]  # deflate, 32 KiB window, no preset dictionary, check bits
    starts = range(0, len(raw), STORED_BLOCK) if raw else range(1)
    for start in starts:
        piece = raw[start : start + STORED_BLOCK]
        final = 1 if start + STORED_BLOCK >= len(raw) else 0
        stream.append(struct.pack("<BHH", final, len(piece), len(piece) ^ 0xFFFF) + piece)
    stream.append(struct.pack(">I", zlib.adler32(raw)))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    made = _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(stream)) + _chunk(b"IEND", b"")
    if len(made) != png_size(width, height):
        raise RuntimeError("the PNG's length differs from its closed form")
    return made
