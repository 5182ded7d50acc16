#!/usr/bin/python3
"""Scoring benchmark, PyTorch side (bench/score_bench.sh drives it; ghx's side is
bench/score_bench.cpp, target ghx_bench_score). Debian's python3-torch: run with /usr/bin/python3.

    score_bench.py prepare DIR [--style-images N] [--style-targets T] [--clip-images N]
                               [--texts M] [--embeddings K] [--clip-arch vit-l-14|vit-b-32]
        Writes, deterministically (fixed seeds), full-size random weights and the inputs:
          DIR/weights/vgg19_features.safetensors  torchvision vgg19 features (torch.manual_seed(0)),
                                                  keys features.N.weight/bias, F32
          DIR/weights/clip/model.safetensors      random CLIP in the Hugging Face layout, F32
          DIR/weights/clip/config.json            its HF config.json (both sides read the sizes)
          DIR/weights/aesthetic.safetensors       improved-aesthetic-predictor head
                                                  (proj-1024-128-64-16-1, layers.{0,2,4,6,7})
          DIR/inputs/*.png, texts.i32, eot.i32, embeddings.f32, DIR/inputs/inputs.json
    score_bench.py run DIR --metric M --threads N [--channels-last] [--results FILE]
        One metric in PyTorch; prints one JSON line (items/s, peak RSS); M is one of
        style, clip_preprocess, clip_image, clip_text, head.
    score_bench.py report DIR [--machine M --command C --build B --load L]
        DIR/score_bench.md's tables (markdown on stdout) from DIR/score_bench.jsonl.
    score_bench.py compare DIR
        Max differences between the result files of both sides (DIR/results/*.f64), one JSON line
        per metric.

Timing: only the work (after loading and one warm-up batch), time.perf_counter; work that
takes less than a second (clip_preprocess, head) is repeated until a second has passed. CPU time and minor page faults of the timed part
(getrusage before/after), and how many cores other processes kept busy meanwhile (others_cores:
/proc/stat's busy time less this process's, over the wall time: the VM is shared and noisy). Peak RSS: resource.getrusage(RUSAGE_SELF).ru_maxrss (whole process, loading included) and the high-water
mark of the timed part alone (VmHWM after resetting it through /proc/self/clear_refs).
Everything runs in eval mode under torch.inference_mode(), torch.set_num_threads(N).
"""
import argparse
import json
import math
import mmap
import os
import re
import resource
import struct
import sys
import time

import numpy as np

STYLE_LAYERS = (0, 5, 10, 19, 28)
VGG_MEAN = (0.485, 0.456, 0.406)
VGG_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SOT, EOT = 49406, 49407
VGG_BATCH = 4     # the same as ghx's Vgg19Style (src/models/vgg19.cpp k_batch)
CLIP_BATCH = 8    # as a user would batch (ghx's pipeline hands its CLIP executor 8 images)
HEAD_BATCH = 8
MIN_TIMED_S = 1.0  # work shorter than this is repeated (both sides) so that runs are comparable
BUSY_CORES = 0.3   # a run is "disturbed" when other processes used more than the free cores + this

ARCHS = {
    # HF CLIPConfig of OpenAI's ViT-L/14 and ViT-B/32 (quick_gelu).
    "vit-l-14": dict(vision=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                 num_attention_heads=16, patch_size=14),
                     text=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                               num_attention_heads=12),
                     projection_dim=768),
    "vit-b-32": dict(vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                 num_attention_heads=12, patch_size=32),
                     text=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                               num_attention_heads=8),
                     projection_dim=512),
}


# ---- safetensors by hand (no safetensors package here) ---------------------------------------

def write_safetensors(path, tensors, metadata=None):
    """F32 safetensors: u64 LE header length, JSON header space-padded to 8, then the data.
    Written tensor by tensor (the ViT-L/14 file is 1.7 GB)."""
    import torch
    header, offset, order = {}, 0, sorted(tensors)
    if metadata:
        header["__metadata__"] = metadata
    for name in order:
        t = tensors[name]
        n = t.numel() * 4
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for name in order:
            f.write(tensors[name].detach().to(torch.float32).contiguous().numpy().tobytes())
    os.replace(tmp, path)


class SafetensorsMap:
    """Read-only views of an F32 safetensors file through mmap (what safetensors' safe_open
    does): tensors share the mapping; load_state_dict then copies them into the module."""

    def __init__(self, path):
        import torch
        self._f = open(path, "rb")
        self._mm = mmap.mmap(self._f.fileno(), 0, access=mmap.ACCESS_READ)
        (n,) = struct.unpack("<Q", self._mm[:8])
        header = json.loads(self._mm[8:8 + n])
        base = 8 + n
        self.tensors = {}
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "non-writable buffer": the views are only read
            for name, info in header.items():
                if name == "__metadata__":
                    continue
                assert info["dtype"] == "F32", (path, name, info["dtype"])
                b, e = info["data_offsets"]
                t = torch.frombuffer(self._mm, dtype=torch.float32, count=(e - b) // 4,
                                     offset=base + b)
                self.tensors[name] = t.reshape(info["shape"])

    def close(self):
        self.tensors = None
        import gc
        gc.collect()
        try:
            self._mm.close()
        except BufferError:
            pass  # a view is still alive somewhere: the mapping goes with it
        self._f.close()


# ---- models ------------------------------------------------------------------------------------

def vgg19_features():
    """torchvision's vgg19().features (make_layers(cfgs['E'])) up to conv5_1, without building
    the 550 MB classifier a user's vgg19() would also allocate."""
    from torchvision.models.vgg import cfgs, make_layers
    return make_layers(cfgs["E"], batch_norm=False)[:29]


def clip_modules():
    """A straightforward CLIP in PyTorch, structured and named like Hugging Face's CLIPModel
    (transformers 4.2x, eager attention): pre-LayerNorm blocks, q/k/v/out nn.Linear, q scaled by
    head_dim^-0.5, bmm + softmax + bmm, quick_gelu MLP, class token / EOT pooling. Based on
    tests/models/make_clip_fixture.py's reference, as nn.Modules so a state dict loads into it."""
    import torch
    import torch.nn as nn

    class Attention(nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.heads, self.hd = heads, d // heads
            self.scale = self.hd ** -0.5
            self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
            self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)

        def forward(self, x, mask=None):
            b, t, d = x.shape
            h, hd = self.heads, self.hd

            def shape(z):
                return z.view(b, t, h, hd).transpose(1, 2).reshape(b * h, t, hd)
            q = shape(self.q_proj(x) * self.scale)
            k = shape(self.k_proj(x))
            v = shape(self.v_proj(x))
            w = torch.bmm(q, k.transpose(1, 2))
            if mask is not None:
                w = w + mask
            w = torch.softmax(w, dim=-1)
            o = torch.bmm(w, v).view(b, h, t, hd).transpose(1, 2).reshape(b, t, d)
            return self.out_proj(o)

    class Mlp(nn.Module):
        def __init__(self, d, m):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(d, m), nn.Linear(m, d)

        def forward(self, x):
            x = self.fc1(x)
            return self.fc2(x * torch.sigmoid(1.702 * x))  # quick_gelu

    class Layer(nn.Module):
        def __init__(self, c):
            super().__init__()
            d = c["hidden_size"]
            self.self_attn = Attention(d, c["num_attention_heads"])
            self.layer_norm1 = nn.LayerNorm(d, eps=1e-5)
            self.mlp = Mlp(d, c["intermediate_size"])
            self.layer_norm2 = nn.LayerNorm(d, eps=1e-5)

        def forward(self, x, mask=None):
            x = x + self.self_attn(self.layer_norm1(x), mask)
            return x + self.mlp(self.layer_norm2(x))

    class Encoder(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))

        def forward(self, x, mask=None):
            for layer in self.layers:
                x = layer(x, mask)
            return x

    class VisionEmbeddings(nn.Module):
        def __init__(self, c):
            super().__init__()
            d, p = c["hidden_size"], c["patch_size"]
            self.class_embedding = nn.Parameter(torch.randn(d) * 0.02)
            self.patch_embedding = nn.Conv2d(3, d, kernel_size=p, stride=p, bias=False)
            self.position_embedding = nn.Embedding((c["image_size"] // p) ** 2 + 1, d)

        def forward(self, pixels):
            x = self.patch_embedding(pixels).flatten(2).transpose(1, 2)
            cls = self.class_embedding.expand(x.shape[0], 1, -1)
            return torch.cat([cls, x], dim=1) + self.position_embedding.weight

    class VisionModel(nn.Module):
        def __init__(self, c):
            super().__init__()
            d = c["hidden_size"]
            self.embeddings = VisionEmbeddings(c)
            self.pre_layrnorm = nn.LayerNorm(d, eps=1e-5)
            self.encoder = Encoder(c)
            self.post_layernorm = nn.LayerNorm(d, eps=1e-5)

        def forward(self, pixels):
            x = self.encoder(self.pre_layrnorm(self.embeddings(pixels)))
            return self.post_layernorm(x[:, 0, :])

    class TextEmbeddings(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.token_embedding = nn.Embedding(c["vocab_size"], c["hidden_size"])
            self.position_embedding = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])

        def forward(self, ids):
            return self.token_embedding(ids) + self.position_embedding.weight[: ids.shape[1]]

    class TextModel(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.embeddings = TextEmbeddings(c)
            self.encoder = Encoder(c)
            self.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=1e-5)

        def forward(self, ids):
            t = ids.shape[1]
            mask = torch.full((t, t), float("-inf")).triu_(1)
            x = self.final_layer_norm(self.encoder(self.embeddings(ids), mask))
            # Pooled at the EOT token (the largest id), as HF's CLIPTextTransformer.
            return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)]

    class Clip(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            vc, tc = cfg["vision_config"], cfg["text_config"]
            self.vision_model = VisionModel(vc)
            self.text_model = TextModel(tc)
            p = cfg["projection_dim"]
            self.visual_projection = nn.Linear(vc["hidden_size"], p, bias=False)
            self.text_projection = nn.Linear(tc["hidden_size"], p, bias=False)
            self.logit_scale = nn.Parameter(torch.tensor(2.6592))

        def encode_image(self, pixels):
            pooled = self.vision_model(pixels)
            return self.visual_projection(pooled), pooled

        def encode_text(self, ids):
            return self.text_projection(self.text_model(ids))

    return Clip


def aesthetic_head(dim):
    """improved-aesthetic-predictor's MLP (Linear, Dropout, ..., Linear, Linear)."""
    import torch.nn as nn

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(
                nn.Linear(dim, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
                nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1))

        def forward(self, x):
            return self.layers(x)

    return Head()


class no_init:
    """Skips the random init of modules whose weights are loaded next (as transformers'
    from_pretrained does): the model is then built in milliseconds instead of seconds."""

    def __enter__(self):
        import torch.nn as nn
        self.saved = [(c, c.reset_parameters) for c in (nn.Linear, nn.Conv2d, nn.Embedding, nn.LayerNorm)]
        for c, _ in self.saved:
            c.reset_parameters = lambda self: None

    def __exit__(self, *a):
        for c, f in self.saved:
            c.reset_parameters = f


# ---- prepare -----------------------------------------------------------------------------------

def smooth_image(rng, w, h):
    """A deterministic image with structure: a few random sinusoids per channel plus noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        for _ in range(4):
            fx, fy = rng.uniform(0.002, 0.05, 2)
            ph = rng.uniform(0, 2 * math.pi)
            img[..., c] += np.sin(fx * x * 2 * math.pi + fy * y * 2 * math.pi + ph)
    img = (img - img.min()) / (img.max() - img.min()) * 230 + rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def prepare(args):
    import torch
    from PIL import Image
    d = args.dir
    wdir, idir = os.path.join(d, "weights"), os.path.join(d, "inputs")
    os.makedirs(os.path.join(wdir, "clip"), exist_ok=True)
    os.makedirs(idir, exist_ok=True)
    t0 = time.perf_counter()

    # VGG19 features: torchvision's own init with seed 0.
    import torchvision
    torch.manual_seed(0)
    vgg = torchvision.models.vgg19()
    sd = {k: v for k, v in vgg.state_dict().items() if k.startswith("features.")}
    write_safetensors(os.path.join(wdir, "vgg19_features.safetensors"), sd,
                      {"ghx": "random torchvision vgg19 features, torch.manual_seed(0)"})
    del vgg, sd

    # CLIP: random weights of the real shapes (HF layout).
    a = ARCHS[args.clip_arch]
    vc = dict(a["vision"], image_size=224, num_channels=3, hidden_act="quick_gelu",
              layer_norm_eps=1e-5, projection_dim=a["projection_dim"], model_type="clip_vision_model")
    tc = dict(a["text"], max_position_embeddings=77, vocab_size=49408, hidden_act="quick_gelu",
              layer_norm_eps=1e-5, projection_dim=a["projection_dim"], bos_token_id=SOT,
              eos_token_id=EOT, pad_token_id=0, model_type="clip_text_model")
    cfg = {"architectures": ["CLIPModel"], "model_type": "clip",
           "projection_dim": a["projection_dim"], "logit_scale_init_value": 2.6592,
           "text_config": tc, "vision_config": vc, "torch_dtype": "float32",
           "image_mean": list(CLIP_MEAN), "image_std": list(CLIP_STD),
           "_ghx_bench": f"random weights of {args.clip_arch}, torch.manual_seed(1)"}
    with open(os.path.join(wdir, "clip", "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    torch.manual_seed(1)
    clip = clip_modules()(cfg)  # default PyTorch init: Linear ~U(+-1/sqrt(in)), LayerNorm 1/0
    with torch.no_grad():
        for name, p in clip.named_parameters():
            if name.endswith("embedding.weight") or name.endswith("class_embedding"):
                p.normal_(0, 0.02)  # CLIP's embedding init scale
    write_safetensors(os.path.join(wdir, "clip", "model.safetensors"), clip.state_dict(),
                      {"format": "pt", "ghx": f"random {args.clip_arch}, HF layout"})
    del clip

    torch.manual_seed(2)
    head = aesthetic_head(a["projection_dim"])
    write_safetensors(os.path.join(wdir, "aesthetic.safetensors"), head.state_dict(),
                      {"ghx": "random improved-aesthetic-predictor head"})

    # Inputs.
    rng = np.random.RandomState(20240601)
    manifest = {"style": {"images": [], "targets": []}, "clip": {"images": []}}
    for kind, n in (("images", args.style_images), ("targets", args.style_targets)):
        for i in range(n):
            p = os.path.join(idir, f"style_{kind[:-1]}_{i:02d}.png")
            Image.fromarray(smooth_image(rng, 512, 512)).save(p)
            manifest["style"][kind].append(os.path.relpath(p, d))
    for i in range(args.clip_images):
        p = os.path.join(idir, f"clip_image_{i:02d}.png")
        Image.fromarray(smooth_image(rng, 640, 480)).save(p)
        manifest["clip"]["images"].append(os.path.relpath(p, d))
    ids = np.zeros((args.texts, 77), np.int32)
    eot = np.zeros(args.texts, np.int32)
    for i in range(args.texts):
        n = rng.randint(5, 41)  # prompt lengths of 5..40 BPE tokens
        ids[i, 0] = SOT
        ids[i, 1:n + 1] = rng.randint(1, SOT, n)
        ids[i, n + 1] = EOT
        eot[i] = n + 1
    ids.tofile(os.path.join(idir, "texts.i32"))
    eot.tofile(os.path.join(idir, "eot.i32"))
    emb = rng.normal(0, 1, (args.embeddings, a["projection_dim"])).astype(np.float32)
    emb.tofile(os.path.join(idir, "embeddings.f32"))
    manifest.update({
        "texts": {"ids": "inputs/texts.i32", "eot": "inputs/eot.i32", "count": args.texts, "context": 77},
        "embeddings": {"file": "inputs/embeddings.f32", "count": args.embeddings, "dim": a["projection_dim"]},
        "weights": {"vgg19": "weights/vgg19_features.safetensors", "clip": "weights/clip/model.safetensors",
                    "clip_config": "weights/clip/config.json", "head": "weights/aesthetic.safetensors"},
        "clip_arch": args.clip_arch,
    })
    with open(os.path.join(idir, "inputs.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(json.dumps({"prepared": d, "seconds": round(time.perf_counter() - t0, 1)}))


# ---- run ---------------------------------------------------------------------------------------

def vm_hwm_kb():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))


def reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def blas_library():
    with open("/proc/self/maps") as f:
        for line in f:
            if re.search(r"lib(open)?blas", line):
                return line.split()[-1]
    return "?"


def cpu_busy_s():
    """Busy CPU seconds of the whole machine so far (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def run(args):
    import torch
    from PIL import Image
    torch.set_num_threads(args.threads)
    d = args.dir
    with open(os.path.join(d, "inputs", "inputs.json")) as f:
        man = json.load(f)
    W = {k: os.path.join(d, v) for k, v in man["weights"].items()}
    m = args.metric
    t_load = time.perf_counter()
    results = None

    with torch.inference_mode():
        if m == "style":
            feats = vgg19_features()
            st = SafetensorsMap(W["vgg19"])
            # features[:29] ends at conv5_1: the file's conv5_2..5_4 (30, 32, 34) are not used.
            feats.load_state_dict({k: st.tensors["features." + k] for k in feats.state_dict()})
            st.close()
            feats.eval()
            mf = torch.channels_last if args.channels_last else torch.contiguous_format
            feats = feats.to(memory_format=mf)
            import torchvision.transforms as T
            to_input = T.Compose([T.ToTensor(), T.Normalize(VGG_MEAN, VGG_STD)])
            images = [Image.open(os.path.join(d, p)).convert("RGB") for p in man["style"]["images"]]
            targets = [Image.open(os.path.join(d, p)).convert("RGB") for p in man["style"]["targets"]]
            for im in images + targets:
                im.load()

            def grams(pils):
                out = []
                for i in range(0, len(pils), VGG_BATCH):
                    x = torch.stack([to_input(p) for p in pils[i:i + VGG_BATCH]])
                    x = x.contiguous(memory_format=mf)
                    gs = []
                    for idx, layer in enumerate(feats):
                        x = layer(x)  # ReLU(inplace=True) follows: take the Gram before it
                        if idx in STYLE_LAYERS:
                            n, c, h, w = x.shape
                            if args.channels_last:  # F as (N, HW, C), a view of the NHWC data
                                f = x.permute(0, 2, 3, 1).reshape(n, h * w, c)
                                gs.append(torch.bmm(f.transpose(1, 2), f))
                            else:
                                f = x.reshape(n, c, h * w)
                                gs.append(torch.bmm(f, f.transpose(1, 2)))
                    out += [[g[k] for g in gs] for k in range(x.shape[0])]
                return out

            def work():
                gi, gt = grams(images), grams(targets)
                loss = torch.empty(len(gi), len(gt), dtype=torch.float64)
                for a, ga in enumerate(gi):
                    for b, gb in enumerate(gt):
                        loss[a, b] = sum(torch.nn.functional.mse_loss(x, y) for x, y in zip(ga, gb))
                return loss

            items = len(images) + len(targets)
            warm = lambda: grams(images[:VGG_BATCH])

        elif m == "clip_preprocess":
            import torchvision.transforms as T
            tf = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC),
                            T.CenterCrop(224), T.ToTensor(), T.Normalize(CLIP_MEAN, CLIP_STD)])
            images = [Image.open(os.path.join(d, p)).convert("RGB") for p in man["clip"]["images"]]
            for im in images:
                im.load()

            def work():
                return torch.stack([tf(im) for im in images])

            items = len(images)
            warm = lambda: tf(images[0])

        elif m in ("clip_image", "clip_text"):
            with open(W["clip_config"]) as f:
                cfg = json.load(f)
            with no_init():
                model = clip_modules()(cfg)
            st = SafetensorsMap(W["clip"])
            model.load_state_dict(st.tensors)
            st.close()
            model.eval()
            if m == "clip_image":
                import torchvision.transforms as T
                tf = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC),
                                T.CenterCrop(224), T.ToTensor(), T.Normalize(CLIP_MEAN, CLIP_STD)])
                pixels = torch.stack([tf(Image.open(os.path.join(d, p)).convert("RGB"))
                                      for p in man["clip"]["images"]])

                def work():
                    return torch.cat([model.encode_image(pixels[i:i + CLIP_BATCH])[0]
                                      for i in range(0, len(pixels), CLIP_BATCH)])

                items = len(pixels)
                warm = lambda: model.encode_image(pixels[:2])
            else:
                t = man["texts"]
                ids = torch.from_numpy(np.fromfile(os.path.join(d, t["ids"]), np.int32)
                                       .reshape(t["count"], t["context"]).astype(np.int64))
                eot = np.fromfile(os.path.join(d, t["eot"]), np.int32)

                def work():
                    out = []
                    for i in range(0, len(ids), CLIP_BATCH):
                        # Padded to the longest prompt of the batch, as HF's processor with
                        # padding=True (OpenAI's clip.tokenize pads to all 77: slower).
                        n = int(eot[i:i + CLIP_BATCH].max()) + 1
                        out.append(model.encode_text(ids[i:i + CLIP_BATCH, :n]))
                    return torch.cat(out)

                items = len(ids)
                warm = lambda: model.encode_text(ids[:2])

        elif m == "head":
            e = man["embeddings"]
            emb = torch.from_numpy(np.fromfile(os.path.join(d, e["file"]), np.float32)
                                   .reshape(e["count"], e["dim"]))
            head = aesthetic_head(e["dim"])
            st = SafetensorsMap(W["head"])
            head.load_state_dict(st.tensors)
            st.close()
            head.eval()

            def work():
                out = []
                for i in range(0, len(emb), HEAD_BATCH):
                    x = emb[i:i + HEAD_BATCH]
                    x = x / x.norm(dim=-1, keepdim=True)
                    out.append(head(x)[:, 0])
                return torch.cat(out)

            items = len(emb)
            warm = lambda: work()
        else:
            sys.exit(f"unknown metric {m}")

        load_s = time.perf_counter() - t_load
        warm()
        hwm_ok = reset_hwm()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        b0 = cpu_busy_s()
        t0 = time.perf_counter()
        repeats = 0
        while True:  # short work is repeated up to MIN_TIMED_S, as on ghx's side
            results = work()
            repeats += 1
            if time.perf_counter() - t0 >= MIN_TIMED_S:
                break
        seconds = time.perf_counter() - t0
        b1 = cpu_busy_s()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        own = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        fwd_peak = vm_hwm_kb() if hwm_ok else None

    if args.results:
        os.makedirs(os.path.dirname(args.results), exist_ok=True)
        results.to(torch.float64).numpy().tofile(args.results)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "side": "pytorch" + ("_cl" if args.channels_last else ""), "metric": m,
        "threads": torch.get_num_threads(), "items": items * repeats, "repeats": repeats,
        "seconds": round(seconds, 4), "items_per_s": round(items * repeats / seconds, 4), "load_s": round(load_s, 2),
        "peak_mb": round(peak / 1024, 1),
        "fwd_peak_mb": round(fwd_peak / 1024, 1) if fwd_peak else None,
        "user_s": round(r1.ru_utime - r0.ru_utime, 3), "sys_s": round(r1.ru_stime - r0.ru_stime, 3),
        "minor_faults": r1.ru_minflt - r0.ru_minflt,
        "others_cores": round(max(0.0, (b1 - b0) - own) / seconds, 3),
        "blas": blas_library(), "torch": torch.__version__,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
    }))


# ---- report ------------------------------------------------------------------------------------

def disturbed(r):
    """Other processes kept busy more than the cores this run left free, plus BUSY_CORES.
    Needs a run of a second or more (/proc/stat counts in 10 ms ticks)."""
    free = max(0, (os.cpu_count() or 1) - r["threads"])
    return r["seconds"] >= 1.0 and r.get("others_cores", 0) > free + BUSY_CORES


def report(args):
    """bench/out/score_bench.md from score_bench.jsonl (medians over the reps)."""
    import statistics
    d = args.dir
    with open(os.path.join(d, "inputs", "inputs.json")) as f:
        man = json.load(f)
    runs = [json.loads(l) for l in open(os.path.join(d, "score_bench.jsonl")) if l.strip()]
    comp = {}
    cpath = os.path.join(d, "results", "compare.jsonl")
    if os.path.exists(cpath):
        for l in open(cpath):
            if l.strip():
                c = json.loads(l)
                comp[c["metric"]] = c
    arch = {"vit-l-14": "ViT-L/14", "vit-b-32": "ViT-B/32"}[man["clip_arch"]]
    ni, nt = len(man["style"]["images"]), len(man["style"]["targets"])
    nc, m_txt, k = len(man["clip"]["images"]), man["texts"]["count"], man["embeddings"]["count"]
    work = {
        "style": f"VGG19 Grams of {ni} images + {nt} targets, 512x512; {ni * nt} style losses "
                 f"(items = {ni + nt} images)",
        "clip_preprocess": f"{nc} decoded 640x480 images -> 3x224x224",
        "clip_image": f"{arch} image tower, {nc} preprocessed images",
        "clip_text": f"{arch} text tower, {m_txt} prompts of 5..40 tokens",
        "head": f"aesthetic MLP {man['embeddings']['dim']}-1024-128-64-16-1, {k} embeddings",
    }
    order = ["style", "clip_preprocess", "clip_image", "clip_text", "head"]
    every = {}
    for r in runs:
        every.setdefault((r["metric"], r["threads"], r["side"]), []).append(r)
    # Runs disturbed by other processes are left out where the side has undisturbed ones.
    by = {key: [r for r in rs if not disturbed(r)] or rs for key, rs in every.items()}

    def med(rs, key):
        v = [r[key] for r in rs if r.get(key) is not None]
        return statistics.median(v) if v else None

    def f(x, nd=2):
        if x is None:
            return "-"
        if abs(x) >= 100:
            return f"{x:.0f}"
        if abs(x) >= 10:
            return f"{x:.1f}"
        return f"{x:.{nd}f}" if abs(x) >= 0.1 else f"{x:.3g}"

    out = ["# Scoring benchmark: ghx vs PyTorch", ""]
    out.append(f"- Machine: {args.machine}; load average {args.load}.")
    out.append(f"- Command: `{args.command}` (ghx_bench_score built in `{args.build}`, "
               f"source {args.commit}).")
    blas = sorted({r.get("blas", "?") for r in runs if r["metric"] in ("style", "clip_image", "clip_text")})
    tv = sorted({("ghx: " if r["side"] == "ghx" else "PyTorch ") + r["torch"]
                 for r in runs if r.get("torch")})
    out.append(f"- Libraries: {', '.join(tv)}; BLAS mapped on both sides: {', '.join(blas)}.")
    out.append("- Both sides: `OMP_NUM_THREADS` = `OPENBLAS_NUM_THREADS` = the thread count, "
               "`OMP_WAIT_POLICY=PASSIVE` (ghx sets it itself before it loads libtorch; libgomp's "
               "spinning threads against OpenBLAS's made 2-thread runs 4x slower), "
               "`set_torch_threads(N)` / `torch.set_num_threads(N)`.")
    out.append(f"- Weights: full-size, random (score_bench.py prepare): torchvision vgg19 features "
               f"(seed 0), CLIP {arch} in the HF layout with its config.json, improved-aesthetic-"
               f"predictor head. Each figure is the median of {max(r['rep'] for r in runs)} runs, "
               f"ghx and PyTorch alternating; only the work is timed (after loading and one warm-up "
               f"batch). PyTorch: eval(), torch.inference_mode(), batches of 8 for CLIP and the head, "
               f"4 for VGG (as ghx).")
    out.append("- The VM is shared: a run during which other processes kept busy more than the cores "
               "it left free + 0.3 (others' cores, from /proc/stat) is marked disturbed and redone "
               "(score_bench.sh --retries); medians leave disturbed runs out where a side has "
               "undisturbed ones. Work under a second (clip_preprocess, head) is repeated in the "
               "process until a second has passed, on both sides.")
    out.append("- items/s: images (style: images + targets through VGG; clip_*: images), prompts "
               "or embeddings per second. ratio = ghx / PyTorch (above 1: ghx is faster). peak MB: "
               "getrusage ru_maxrss of the whole process (loading included); timed peak MB: the "
               "high-water mark of the timed part alone (VmHWM reset before it).")
    out.append("")
    for t in sorted({r["threads"] for r in runs}, reverse=True):
        out.append(f"## {t} thread{'s' if t > 1 else ''}")
        out.append("")
        out.append("| metric | work | ghx items/s | PyTorch items/s | ratio (ghx/PyTorch) | ghx peak MB "
                   "| PyTorch peak MB | ghx / PyTorch timed peak MB |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for m in order:
            g = by.get((m, t, "ghx"))
            if not g:
                continue
            for side, label in (("pytorch", ""), ("pytorch_cl", " (PyTorch channels_last)")):
                p = by.get((m, t, side))
                if not p:
                    continue
                if m == "style" and side == "pytorch":
                    label = " (PyTorch NCHW, torchvision's default)"
                gi, pi = med(g, "items_per_s"), med(p, "items_per_s")
                out.append(f"| {m}{label} | {work[m]} | {f(gi)} | {f(pi)} | **{gi / pi:.2f}** | "
                           f"{f(med(g, 'peak_mb'))} | {f(med(p, 'peak_mb'))} | "
                           f"{f(med(g, 'fwd_peak_mb'))} / {f(med(p, 'fwd_peak_mb'))} |")
        out.append("")
    # Achieved GFLOP/s (useful work only: no padding) against libtorch's own float32 GEMM on the
    # same threads, measured in the same run (ghx_bench_score gemm: 2048^3 products, best of 2 s
    # each through BLAS and through oneDNN; the peak is the higher).
    if any(r["metric"] == "gemm" for r in runs):
        out.append("## Near the hardware's limit: achieved GFLOP/s against the GEMM peak")
        out.append("")
        out.append("| threads | GEMM GFLOP/s: BLAS (at::mm) / oneDNN (1x1 conv) | peak | VGG19 (style) GFLOP/s | % of peak "
                   "| CLIP image GFLOP/s | % of peak | CLIP text GFLOP/s | % of peak |")
        out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in sorted({r["threads"] for r in runs}, reverse=True):
            peak = med(by.get(("gemm", t, "ghx"), []), "gflops")
            if not peak:
                continue
            gr = by.get(("gemm", t, "ghx"), [])
            cells = [f"{t}", f"{f(med(gr, 'gflops_blas'))} / {f(med(gr, 'gflops_onednn'))}", f(peak)]
            for m in ("style", "clip_image", "clip_text"):
                g = med(by.get((m, t, "ghx"), []), "gflops")
                cells += [f(g), "-" if g is None else f"{100 * g / peak:.0f}%"]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        out.append("FLOPs per item (a multiply-add counts 2): VGG19 features[:29] convolutions at the "
                   "image's size and the Gram matrices of the ghostreview layers; CLIP towers: the QKV, "
                   "output and MLP projections and attention over the tokens that carry the input "
                   "(patches + class token; a prompt's tokens up to its end token, not ghx's padding), "
                   "plus the patch embedding and the final projection.")
        out.append("")
    out.append("## Every side, in detail (medians; items/s min..max over the runs)")
    out.append("")
    out.append("| threads | metric | side | runs used / done | items/s | min..max | timed s | user s "
               "| sys s | sys % | CPU s / item | minor faults | others' cores | load s |")
    out.append("|---:|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (m, t, side), rs in sorted(((k, v) for k, v in by.items() if k[0] in order),
                                   key=lambda kv: (-kv[0][1], order.index(kv[0][0]), kv[0][2])):
        ips = [r["items_per_s"] for r in rs]
        u, sy = med(rs, "user_s"), med(rs, "sys_s")
        out.append(f"| {t} | {m} | {side} | {len(rs)} / {len(every[(m, t, side)])} | "
                   f"{f(med(rs, 'items_per_s'))} | {f(min(ips))}..{f(max(ips))} | "
                   f"{f(med(rs, 'seconds'))} | {f(u)} | {f(sy)} | "
                   f"{100 * sy / (u + sy) if u is not None and (u + sy) > 0 else 0:.0f} | "
                   f"{f(statistics.median((r['user_s'] + r['sys_s']) / r['items'] for r in rs), 3)} | "
                   f"{med(rs, 'minor_faults'):.0f} | {f(med(rs, 'others_cores'))} | {f(med(rs, 'load_s'))} |")
    out.append("")
    if comp:
        out.append("## Same answers (first run, outputs of both sides compared)")
        out.append("")
        out.append("| metric | values | max abs diff | max abs value | max rel diff |")
        out.append("|---|---:|---:|---:|---:|")
        for m in order:
            c = comp.get(m)
            if c:
                if "error" in c:
                    out.append(f"| {m} | - | {c['error']} | - | - |")
                    continue
                rel = c.get("max_rel_diff")
                out.append(f"| {m} | {c['values']} | {c['max_abs_diff']:.3g} | {c['max_abs_value']:.4g} | "
                           f"{'-' if rel is None else format(rel, '.3g')} |")
        out.append("")
    print("\n".join(out))


# ---- compare -----------------------------------------------------------------------------------

def compare(args):
    rdir = os.path.join(args.dir, "results")
    for m in ("style", "clip_preprocess", "clip_image", "clip_text", "head"):
        g, p = os.path.join(rdir, f"ghx_{m}.f64"), os.path.join(rdir, f"pytorch_{m}.f64")
        if not (os.path.exists(g) and os.path.exists(p)):
            continue
        a, b = np.fromfile(g, np.float64), np.fromfile(p, np.float64)
        if a.shape != b.shape:
            print(json.dumps({"metric": m, "error": f"sizes differ: {a.size} vs {b.size}"}))
            continue
        diff = np.abs(a - b)
        print(json.dumps({"metric": m, "values": int(a.size), "max_abs_diff": float(diff.max()),
                          "max_abs_value": float(np.abs(b).max()),
                          "max_rel_diff": float((diff / np.maximum(np.abs(b), 1e-30)).max())
                          if m in ("style", "head") else None}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("dir")
    p.add_argument("--style-images", type=int, default=8)
    p.add_argument("--style-targets", type=int, default=2)
    p.add_argument("--clip-images", type=int, default=16)
    p.add_argument("--texts", type=int, default=64)
    p.add_argument("--embeddings", type=int, default=1024)
    p.add_argument("--clip-arch", choices=sorted(ARCHS), default="vit-l-14")
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("--metric", required=True)
    r.add_argument("--threads", type=int, required=True)
    r.add_argument("--channels-last", action="store_true")
    r.add_argument("--results", default="")
    c = sub.add_parser("compare")
    c.add_argument("dir")
    o = sub.add_parser("report")
    o.add_argument("dir")
    o.add_argument("--machine", default="?")
    o.add_argument("--command", default="?")
    o.add_argument("--build", default="?")
    o.add_argument("--load", default="?")
    o.add_argument("--commit", default="?")
    args = ap.parse_args()
    {"prepare": prepare, "run": run, "compare": compare, "report": report}[args.cmd](args)


if __name__ == "__main__":
    main()
