"""Draw berth's artifact-type icons (50x50 PNG, as Harbor serves its icons) into src/berth/icons/.

Each icon is a coloured rounded square with a white glyph made of simple shapes, rendered with 4x4
supersampling and written with zlib alone. Run it again after changing a drawing; the digests the
artifact API reports are the files' sha256, so they change with the pictures.
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

SIZE = 50
SAMPLES = 4
Shape = Callable[[float, float], bool]


def rounded_square(x: float, y: float) -> bool:
    r, lo, hi = 9.0, 1.0, 49.0
    cx, cy = min(max(x, lo + r), hi - r), min(max(y, lo + r), hi - r)
    return lo <= x <= hi and lo <= y <= hi and (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def rect(x0: float, y0: float, x1: float, y1: float) -> Shape:
    return lambda x, y: x0 <= x <= x1 and y0 <= y <= y1


def circle(cx: float, cy: float, r: float) -> Shape:
    return lambda x, y: (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def ring(cx: float, cy: float, r_out: float, r_in: float) -> Shape:
    return lambda x, y: r_in * r_in <= (x - cx) ** 2 + (y - cy) ** 2 <= r_out * r_out


def segment(x0: float, y0: float, x1: float, y1: float, width: float) -> Shape:
    def inside(x: float, y: float) -> bool:
        dx, dy = x1 - x0, y1 - y0
        t = max(0.0, min(1.0, ((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy)))
        return (x - x0 - t * dx) ** 2 + (y - y0 - t * dy) ** 2 <= (width / 2) ** 2
    return inside


def union(*shapes: Shape) -> Shape:
    return lambda x, y: any(shape(x, y) for shape in shapes)


def minus(shape: Shape, hole: Shape) -> Shape:
    return lambda x, y: shape(x, y) and not hole(x, y)


def spokes(cx: float, cy: float, r0: float, r1: float, count: int, width: float) -> Shape:
    angles = [2 * math.pi * i / count for i in range(count)]
    return union(*(segment(cx + r0 * math.cos(a), cy + r0 * math.sin(a),
                           cx + r1 * math.cos(a), cy + r1 * math.sin(a), width) for a in angles))


def check_mark(width: float) -> Shape:
    return union(segment(15, 26, 22, 33, width), segment(22, 33, 35, 18, width))


GLYPHS: dict[str, tuple[tuple[int, int, int], Shape]] = {
    # three stacked layers
    "image": ((0x1F, 0x6F, 0xB5), union(rect(12, 12, 38, 18), rect(12, 22, 38, 28), rect(12, 32, 38, 38))),
    # a ship's wheel
    "chart": ((0x0F, 0x16, 0x89), union(ring(25, 25, 13, 9.5), circle(25, 25, 4), spokes(25, 25, 4, 17, 8, 2.6))),
    # a bundle: a box with its lid's edge
    "cnab": ((0x0A, 0x7E, 0x72), union(minus(rect(11, 15, 39, 38), rect(14.5, 18.5, 35.5, 34.5)),
                                       rect(9, 11, 41, 17), rect(23, 17, 27, 38))),
    # a square with a bite out of its top edge
    "wasm": ((0x65, 0x4F, 0xF0), union(minus(rect(11, 11, 39, 39), circle(25, 11, 6)))),
    # a document with lines of text
    "sbom": ((0xC2, 0x5B, 0x0B), union(minus(rect(13, 9, 37, 41), rect(16.5, 12.5, 33.5, 37.5)),
                                       rect(19, 17, 31, 19.5), rect(19, 23, 31, 25.5), rect(19, 29, 27, 31.5))),
    # three connected nodes
    "cnai": ((0x8A, 0x1C, 0x7C), union(segment(15, 34, 25, 15, 3), segment(25, 15, 35, 34, 3),
                                       segment(15, 34, 35, 34, 3), circle(15, 34, 5), circle(25, 15, 5),
                                       circle(35, 34, 5))),
    # a plain target: any other kind of artifact
    "default": ((0x5F, 0x6B, 0x7A), union(minus(circle(25, 25, 14), circle(25, 25, 10.5)), circle(25, 25, 4))),
    # a tick in a ring: signed
    "cosign": ((0x2E, 0x7D, 0x32), union(ring(25, 25, 15, 12), check_mark(3.5))),
    "notation": ((0xB2, 0x3A, 0x48), union(minus(rect(10, 10, 40, 40), rect(13, 13, 37, 37)), check_mark(3.5))),
}


def render(color: tuple[int, int, int], glyph: Shape) -> bytes:
    rows = []
    step = 1 / SAMPLES
    for py in range(SIZE):
        row = bytearray(b"\x00")  # PNG filter: none
        for px in range(SIZE):
            back = fore = 0
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    x, y = px + (sx + 0.5) * step, py + (sy + 0.5) * step
                    if rounded_square(x, y):
                        back += 1
                        fore += glyph(x, y)
            total = SAMPLES * SAMPLES
            alpha = back / total
            white = fore / back if back else 0.0
            pixel = [round(c + (255 - c) * white) for c in color]
            row += bytes([*pixel, round(alpha * 255)])
        rows.append(bytes(row))
    return png(SIZE, SIZE, b"".join(rows))


def png(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name, (color, glyph) in GLYPHS.items():
        (target / f"{name}.png").write_bytes(render(color, glyph))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "src/berth/icons")
