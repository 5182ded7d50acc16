#!/usr/bin/env python3
"""Writes the demo's small style reference images (pure Python: zlib + struct, no deps).

Each style gets two 96x96 PNGs with a recognisable texture. Run from this folder; the output is
committed, so this only documents how the files were made.
"""
import math, os, struct, zlib

def png(path, w, h, pixel):
    raw = b"".join(b"\x00" + bytes(c for x in range(w) for c in pixel(x, y)) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").write(data)

def clamp(v): return max(0, min(255, int(v)))

styles = {
    # flat colour areas with dark outlines
    "anime": lambda k: (lambda x, y: (0, 0, 0) if (x * (k + 2) + y * 3) % 37 < 2 else
                        (clamp(240 - y), clamp(180 + 60 * math.sin(x / 9)), clamp(200 + k * 20))),
    # black and white screentone
    "manga": lambda k: (lambda x, y: (255, 255, 255) if ((x // (3 + k)) + (y // (3 + k))) % 2 else (20, 20, 20)),
    # big square blocks
    "pixel_art": lambda k: (lambda x, y: ((x // 12) * 40 % 256, (y // 12) * 55 % 256, ((x // 12 + y // 12) * 70 + k * 30) % 256)),
    # soft washes
    "watercolor": lambda k: (lambda x, y: (clamp(180 + 50 * math.sin((x + k * 10) / 17)), clamp(190 + 40 * math.cos(y / 13)),
                             clamp(220 + 30 * math.sin((x + y) / 23)))),
}
for name, make in styles.items():
    for k in range(2):
        png(f"{name}/{k + 1}.png", 96, 96, make(k))
