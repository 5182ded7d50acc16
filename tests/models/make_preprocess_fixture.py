#!/usr/bin/env python3
"""Expected outputs of CLIP's image preprocessing for tests/models/test_clip_preprocess.cpp.

The reference is the real thing: PIL (Pillow 9.4) + torchvision.transforms, as CLIP's
_transform does it: Resize(size, interpolation=BICUBIC), CenterCrop(size), RGB, ToTensor,
Normalize(CLIP's mean, std). The source images are small deterministic PNGs with detailed
content (noise, hard edges, thin lines, gradients), of different aspect ratios: some shrunk,
some enlarged, one exactly square, and a few whose crop margin is odd (Python's round halves to
even). They are written once and committed with the outputs:

  tests/data/preprocess/<name>.png           the source (RGB)
  tests/data/preprocess/<name>.resized.png   Pillow's bicubic resize of it (before the crop)
  tests/data/preprocess/<name>.f32           the final tensor, 3 x size x size float32 (little
                                             endian), only for small sizes
  tests/data/preprocess/expected.json        sizes, crop offsets, and for the large case
                                             sampled values of the final tensor
Two more cases check the resize alone (Image.resize(BICUBIC) to an arbitrary size), one of them
single-channel ("L").

Usage: /usr/bin/python3 tests/models/make_preprocess_fixture.py [DATA_DIR]
"""
import json
import os
import sys

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)

# name, width, height, size
CASES = [
    ("wide_down", 97, 61, 32),        # shrink by ~1.9
    ("wide_down_6x", 300, 200, 32),   # shrink by 6.25: support 12.5 px
    ("up_small", 20, 13, 32),         # enlarge both ways
    ("square_down", 48, 48, 32),      # exactly square
    ("square_up", 24, 24, 32),
    ("tall", 40, 90, 32),             # portrait, shrink
    ("no_resize_odd_margin", 33, 32, 32),   # no resampling at all; margin 1 -> offset round(0.5) = 0
    ("margin_3", 35, 32, 32),         # offset round(1.5) = 2
    ("margin_5_tall", 32, 37, 32),    # offset round(2.5) = 2 (half to even; floor would give 2, half-up 3)
    ("clip_224_up", 150, 112, 224),   # CLIP's real size, enlarged
]
# Plain Image.resize(BICUBIC) to an arbitrary size (pil_bicubic_resize alone): name, mode, source
# width, height, target width, height.
RESIZE_ONLY = [
    ("gray_mixed", "L", 53, 41, 17, 97),     # one channel; shrink one way, enlarge the other
    ("rgb_mixed", "RGB", 50, 30, 123, 7),
]
SAMPLE_STRIDE = 97  # the large case stores every 97th value of the final tensor


def make_image(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    img[..., 0] = 255 * x / max(w - 1, 1)
    img[..., 1] = 255 * (0.5 + 0.5 * np.sin(x * 0.9 + y * 0.4))
    img[..., 2] = 255 * y / max(h - 1, 1)
    # hard-edged blocks and a checkerboard
    img[(x // 5 + y // 5) % 2 == 0] *= 0.35
    for _ in range(6):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        img[y0:y0 + rng.integers(2, 9), x0:x0 + rng.integers(2, 9)] = rng.integers(0, 256, 3)
    # thin lines (one pixel: overshoot of the bicubic lobes, clamping at 0 and 255)
    img[:, w // 3] = 255
    img[h // 2, :] = 0
    # noise on a quarter of the pixels
    mask = rng.random((h, w)) < 0.25
    img[mask] = rng.integers(0, 256, (int(mask.sum()), 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data", "preprocess")
    os.makedirs(data, exist_ok=True)
    out = {
        "generator": f"Pillow {PIL.__version__}, torchvision {torchvision.__version__}",
        "mean": MEAN,
        "std": STD,
        "cases": [],
    }
    for seed, (name, w, h, size) in enumerate(CASES):
        src = os.path.join(data, name + ".png")
        if not os.path.exists(src):
            make_image(w, h, seed).save(src)
        img = Image.open(src).convert("RGB")
        resize = T.Resize(size, interpolation=T.InterpolationMode.BICUBIC)
        resized = resize(img)
        resized.save(os.path.join(data, name + ".resized.png"))
        tensor = T.Compose([resize, T.CenterCrop(size), T.ToTensor(), T.Normalize(MEAN, STD)])(img)
        assert tensor.dtype == torch.float32 and tuple(tensor.shape) == (3, size, size)
        rw, rh = resized.size
        case = {
            "name": name,
            "size": size,
            "source": [w, h],
            "resized": [rw, rh],
            "crop": [int(round((rh - size) / 2.0)), int(round((rw - size) / 2.0))],  # top, left
        }
        flat = tensor.numpy().reshape(-1)
        if size <= 64:
            flat.astype("<f4").tofile(os.path.join(data, name + ".f32"))
            case["floats"] = name + ".f32"
        else:
            idx = list(range(0, flat.size, SAMPLE_STRIDE))
            case["samples"] = [[i, float(flat[i])] for i in idx]
        out["cases"].append(case)
    out["resize_only"] = []
    for seed, (name, mode, w, h, tw, th) in enumerate(RESIZE_ONLY, start=len(CASES)):
        src = os.path.join(data, name + ".png")
        if not os.path.exists(src):
            make_image(w, h, seed).convert(mode).save(src)
        img = Image.open(src)
        assert img.mode == mode
        img.resize((tw, th), Image.Resampling.BICUBIC).save(os.path.join(data, name + ".resized.png"))
        out["resize_only"].append({"name": name, "channels": len(mode), "source": [w, h],
                                   "resized": [tw, th]})
    with open(os.path.join(data, "expected.json"), "w") as f:
        f.write(json.dumps(out, separators=(",", ":")).replace('{"name"', '\n{"name"') + "\n")
    print(f"{len(CASES)} cases written to {data}")


if __name__ == "__main__":
    main()
