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

# LoRA showcase images (suites/loras_demo.toml): 96x128, the demo LoRA section's size.
showcase = {
    # ink wash: grey brush strokes on paper
    "moxin": lambda k: (lambda x, y: (lambda v: (v, v, clamp(v + 8)))(clamp(235 - 150 * (abs(math.sin((x + 2 * y + k * 17) / 15)) > 0.93)
                                                                          - 40 * math.sin(y / 21) ** 2))),
    # splash art: saturated diagonal bursts
    "gacha": lambda k: (lambda x, y: (clamp(128 + 127 * math.sin((x - y + k * 9) / 6)), clamp(90 + 60 * math.cos((x + y) / 11)),
                                      clamp(200 - y))),
    # fine detail: high-frequency checker noise over a gradient
    "detail": lambda k: (lambda x, y: (clamp(x * 2 + ((x * 7 + y * 13 + k) % 5) * 9), clamp(y * 2), clamp(120 + ((x ^ y) & 7) * 12))),
}
for name, make in showcase.items():
    for k in range(2 if name != "detail" else 1):
        png(f"loras/{name}/{k + 1}.png", 96, 128, make(k))
