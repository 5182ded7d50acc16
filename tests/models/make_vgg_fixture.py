#!/usr/bin/python3
"""Regenerates the committed fixtures of tests/models/test_vgg_parity.cpp and test_weights.cpp.

    /usr/bin/python3 tests/models/make_vgg_fixture.py     # Debian's python3-torch 1.13

tests/data/vgg/ (parity of models::Vgg19Style with torchvision):
  vgg19_small.pth          torch.save(model.state_dict()) - an OrderedDict with _metadata - of a
                           torchvision VGG feature stack (torchvision.models.vgg.make_layers) with
                           vgg19's layer structure ('E') and channels / 8, stored as F16; keys
                           features.N.weight/bias (N <= 28, all Vgg19Style reads) plus the extra
                           keys classifier.0.weight/bias, which must be ignored.
  vgg19_small.safetensors  the same weights and keys as BF16 safetensors (written here by hand).
                           The weights are rounded to values exact in f16 AND bf16, so both files
                           hold bit-identical float weights. (Two F32 copies would be 1.6 MB.)
  img*.png, target*.png    40x56 RGB images with structure (gradients, shapes, stripes).
  expected.json            torch float32 results on the weights as floats: ImageNet-normalised
                           input, pre-ReLU conv outputs at features 0, 5, 10, 19, 28 of
                           features[:29], Gram = F F^T (GhostReview) and Gram / (C*H*W)
                           (normalized); style loss = sum over layers of mean((G - A)^2) for every
                           (image, target) pair; Gram Frobenius norms for diagnosis.
tests/data/weights/ (the .pth reader): small torch.save files and their safetensors twins, plus
  files that must be refused (non-contiguous, legacy format, nested dict, malicious pickles).

Deterministic: torch.manual_seed(0) and numpy seeds; torch.save's archive name is the file stem.
"""
import collections
import json
import os
import struct
import zipfile

import numpy as np
import torch
import torch.nn as nn
import torchvision
from PIL import Image
from torchvision.models.vgg import make_layers

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "data"))
VGG_DIR = os.path.join(DATA, "vgg")
WEIGHTS_DIR = os.path.join(DATA, "weights")

# vgg19 ('E'): 64, 64, M, 128, 128, M, 256 x4, M, 512 x4, M, 512 x4, M - channels divided by 8.
CFG_SMALL = [8, 8, "M", 16, 16, "M", 32, 32, 32, 32, "M", 64, 64, 64, 64, "M", 64, 64, 64, 64, "M"]
CFG_TINY = [2, 2, "M", 2, 2, "M", 2, 2, 2, 2, "M", 2, 2, 2, 2, "M", 2, 2, 2, 2, "M"]
STYLE_LAYERS = [0, 5, 10, 19, 28]
LAST = 28
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
HEIGHT, WIDTH = 40, 56

ST_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    """safetensors by hand: u64 LE header length, JSON header space-padded to 8, data."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        b = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


class Net(nn.Module):
    """Named like torchvision's VGG: features.N.*, classifier.0.* (a small extra head)."""

    def __init__(self, cfg):
        super().__init__()
        self.features = make_layers(cfg)
        self.classifier = nn.Sequential(nn.Linear(cfg[0], 4))
        # torchvision's VGG.__init__(init_weights=True), verbatim.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)
        # torchvision zeroes conv biases; random ones make the parity test read them too.
        with torch.no_grad():
            for m in self.features:
                if isinstance(m, nn.Conv2d):
                    m.bias.normal_(0, 0.05)


def round_to_half_and_bfloat(model):
    """Makes every weight exactly representable in float16 and bfloat16 (so F16 and BF16 files
    hold the same floats): round to bfloat16, flush what would be an f16 subnormal to zero."""
    with torch.no_grad():
        for p in model.parameters():
            r = p.bfloat16().float()
            r[r.abs() < 2.0 ** -14] = 0.0
            assert torch.equal(r.half().float(), r) and torch.equal(r.bfloat16().float(), r)
            p.copy_(r)


def trimmed_state_dict(model):
    """model.state_dict() (OrderedDict with _metadata) without the convs after features.28."""
    sd = model.state_dict()
    for k in list(sd):
        if k.startswith("features.") and int(k.split(".")[1]) > LAST:
            del sd[k]
    assert hasattr(sd, "_metadata")
    return sd


# ---- images ----

def make_image(seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    img = np.zeros((HEIGHT, WIDTH, 3))
    angle = rng.uniform(0, np.pi)
    ramp = (np.cos(angle) * x + np.sin(angle) * y) / (WIDTH + HEIGHT)
    period = rng.uniform(4, 12)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (x * np.cos(angle + 1) + y * np.sin(angle + 1)) / period)
    for c in range(3):
        img[..., c] = rng.uniform(0.2, 0.8) * ramp + rng.uniform(0, 0.4) * stripes + rng.uniform(0, 0.3)
    for _ in range(3):  # discs and rectangles of flat colour
        cy, cx, r = rng.uniform(0, HEIGHT), rng.uniform(0, WIDTH), rng.uniform(4, 12)
        colour = rng.uniform(0, 1, 3)
        if rng.uniform() < 0.5:
            mask = (y - cy) ** 2 + (x - cx) ** 2 < r * r
        else:
            mask = (abs(y - cy) < r * 0.7) & (abs(x - cx) < r)
        img[mask] = colour
    img += rng.normal(0, 0.03, img.shape)  # a little texture
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def grams(features, rgb):
    """Raw Gram matrices (float32) and C*H*W at the style layers, torch only."""
    x = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float().div(255)  # torchvision to_tensor
    x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]  # Normalize
    x = x.unsqueeze(0)
    out = []
    with torch.no_grad():
        for i, layer in enumerate(features):
            x = layer(x)
            if i in STYLE_LAYERS:  # before the (in-place) ReLU that follows
                c, h, w = x.shape[1:]
                f = x[0].reshape(c, h * w)
                out.append((f @ f.t(), c * h * w))
    return out


def style_loss(a, b, normalized):
    total = 0.0
    for (ga, sa), (gb, sb) in zip(a, b):
        da, db = ga.double(), gb.double()
        if normalized:
            da, db = da / sa, db / sb
        total += (da - db).pow(2).mean().item()
    return total


def make_vgg_fixture():
    os.makedirs(VGG_DIR, exist_ok=True)
    torch.manual_seed(0)
    model = Net(CFG_SMALL).eval()
    round_to_half_and_bfloat(model)
    features = model.features[: LAST + 1].float().eval()
    reference = {k: v.clone() for k, v in trimmed_state_dict(model).items()}

    sd = trimmed_state_dict(model.half())  # OrderedDict with _metadata, HalfStorage
    torch.save(sd, os.path.join(VGG_DIR, "vgg19_small.pth"))
    write_safetensors(os.path.join(VGG_DIR, "vgg19_small.safetensors"),
                      {k: v.float().bfloat16() for k, v in sd.items()},
                      {"source": "tests/models/make_vgg_fixture.py"})
    model.float()
    for k, v in trimmed_state_dict(model).items():  # the round trip through half is exact
        assert torch.equal(v, reference[k]), k

    names = {"images": [f"img{i}.png" for i in range(3)],
             "targets": [f"target{i}.png" for i in range(2)]}
    pixels = {}
    for seed, name in enumerate(names["images"] + names["targets"]):
        Image.fromarray(make_image(100 + seed), "RGB").save(os.path.join(VGG_DIR, name))
        pixels[name] = np.asarray(Image.open(os.path.join(VGG_DIR, name)).convert("RGB"))
    g = {name: grams(features, px) for name, px in pixels.items()}

    expected = {
        "generator": "tests/models/make_vgg_fixture.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "weights": ["vgg19_small.pth", "vgg19_small.safetensors"],
        "height": HEIGHT,
        "width": WIDTH,
        "style_layers": STYLE_LAYERS,
        "images": names["images"],
        "targets": names["targets"],
        "layers": [{"index": idx, "channels": int(gr.shape[0]), "size": int(s)}
                   for idx, (gr, s) in zip(STYLE_LAYERS, g[names["images"][0]])],
        "gram_frobenius": {n: [torch.linalg.norm(gr.double()).item() for gr, _ in g[n]]
                           for n in names["images"] + names["targets"]},
        "losses": {
            variant: [[style_loss(g[i], g[t], variant == "normalized") for t in names["targets"]]
                      for i in names["images"]]
            for variant in ("ghostreview", "normalized")
        },
    }
    with open(os.path.join(VGG_DIR, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


# ---- tests/data/weights ----

def stored_zip(path, entries):
    """A zip like torch.save's (stored entries) with arbitrary bytes: for crafted pickles."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, data)


def pickle_global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def pickle_unicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def make_weights_fixture():
    os.makedirs(WEIGHTS_DIR, exist_ok=True)
    torch.manual_seed(1)
    base = torch.randn(20)
    sd = collections.OrderedDict()
    sd["f32"] = torch.randn(2, 3)
    sd["f16"] = torch.randn(4).half()
    sd["bf16"] = torch.randn(3, 2).bfloat16()
    sd["f64"] = torch.randn(2, 2, dtype=torch.float64)
    sd["i64"] = torch.tensor([-3, 0, 1 << 40], dtype=torch.int64)
    sd["offset"] = base[5:11].view(2, 3)  # storage offset 5 into a 20-float storage ...
    sd["offset_head"] = base[:4]          # ... which it shares with this one (offset 0)
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["unit_dim"] = torch.randn(5, 1).t()  # size (1, 5), stride (1, 1): contiguous for torch
    sd["param"] = nn.Parameter(torch.randn(2, 2))  # pickled via torch._utils._rebuild_parameter
    sd._metadata = collections.OrderedDict([("", {"version": 1})])
    assert sd["unit_dim"].stride() == (1, 1) and sd["unit_dim"].is_contiguous()
    torch.save(sd, os.path.join(WEIGHTS_DIR, "tensors.pth"))
    write_safetensors(os.path.join(WEIGHTS_DIR, "tensors.safetensors"),
                      {k: v.detach().contiguous() for k, v in sd.items()})

    nc = collections.OrderedDict([("ok", torch.randn(2)), ("weight_t", torch.randn(2, 3).t())])
    assert not nc["weight_t"].is_contiguous()
    torch.save(nc, os.path.join(WEIGHTS_DIR, "noncontig.pth"))

    torch.save(collections.OrderedDict([("a", torch.randn(3))]),
               os.path.join(WEIGHTS_DIR, "legacy.pth"), _use_new_zipfile_serialization=False)

    torch.save({"state_dict": collections.OrderedDict([("a", torch.randn(3))]), "epoch": 3},
               os.path.join(WEIGHTS_DIR, "nested.pth"))

    # Malicious pickles in torch.save's layout. Loading them with pickle WOULD run the command;
    # the reader must refuse the GLOBAL and run nothing. The command only touches a marker file
    # (checked by hand: torch.load on either file, run in a scratch folder, creates it).
    marker = "touch ghx_pickle_was_executed"
    evil = (b"\x80\x02" + pickle_global("os", "system") + pickle_unicode(marker) +
            b"\x85R.")
    stored_zip(os.path.join(WEIGHTS_DIR, "evil_os_system.pth"),
               [("evil_os_system/data.pkl", evil), ("evil_os_system/version", b"3\n")])
    # A valid-looking state dict whose second value is builtins.eval(...).
    t = torch.tensor([1.0, 2.0])
    evil2 = (b"\x80\x02" + pickle_global("collections", "OrderedDict") + b")R(" +
             pickle_unicode("good") + pickle_global("torch._utils", "_rebuild_tensor_v2") +
             b"((" + pickle_unicode("storage") + pickle_global("torch", "FloatStorage") +
             pickle_unicode("0") + pickle_unicode("cpu") + b"K\x02tQK\x00K\x02\x85K\x01\x85\x89" +
             pickle_global("collections", "OrderedDict") + b")Rtq\x00R" +
             pickle_unicode("bad") + pickle_global("builtins", "eval") +
             pickle_unicode("__import__('os').system('" + marker + "')") + b"\x85R" +
             b"u.")
    stored_zip(os.path.join(WEIGHTS_DIR, "evil_eval.pth"),
               [("evil_eval/data.pkl", evil2), ("evil_eval/data/0", t.numpy().tobytes()),
                ("evil_eval/version", b"3\n")])

    # Tiny VGGs (2 channels everywhere) for Vgg19Style::load's error paths.
    torch.manual_seed(2)
    tiny = Net(CFG_TINY).eval()
    tsd = trimmed_state_dict(tiny)
    torch.save(tsd, os.path.join(WEIGHTS_DIR, "tiny_vgg.pth"))
    torch.save(trimmed_state_dict(tiny.double()), os.path.join(WEIGHTS_DIR, "tiny_vgg_f64.pth"))
    tiny.float()
    missing = trimmed_state_dict(tiny)
    del missing["features.19.bias"]
    torch.save(missing, os.path.join(WEIGHTS_DIR, "tiny_vgg_missing.pth"))
    badshape = trimmed_state_dict(tiny)
    badshape["features.5.weight"] = torch.randn(2, 2, 5, 5)
    torch.save(badshape, os.path.join(WEIGHTS_DIR, "tiny_vgg_badshape.pth"))


if __name__ == "__main__":
    make_vgg_fixture()
    make_weights_fixture()
    total = 0
    for d in (VGG_DIR, WEIGHTS_DIR):
        for name in sorted(os.listdir(d)):
            size = os.path.getsize(os.path.join(d, name))
            total += size
            print(f"{os.path.relpath(os.path.join(d, name), DATA)}: {size} bytes")
    print(f"total: {total} bytes")
