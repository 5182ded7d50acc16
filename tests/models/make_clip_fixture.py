#!/usr/bin/python3
"""Golden values for tests/models/test_clip.cpp and test_heads.cpp, from an independent PyTorch
implementation of CLIP written here from the published architecture (Radford et al. 2021; the
Hugging Face CLIPModel / OpenAI model.py structure: pre-LayerNorm transformer blocks, class token,
causal text mask, feature at the EOT token). No transformers / open_clip package is installed
here, so this file is the reference; it shares no code with the C++.

    /usr/bin/python3 tests/models/make_clip_fixture.py      # Debian's python3-torch 1.13

Inputs (written by the C++ generator, committed; regenerate them with
`ghx_tests "[.make_clip_fixture]"` only when write_tiny_clip / write_tiny_aesthetic change):
  tests/data/clip/clip.safetensors      tiny CLIP, Hugging Face layout, F32
  tests/data/clip/clip_config.json      its Hugging Face config.json (hidden_act quick_gelu)
  tests/data/clip/aesthetic.safetensors tiny improved-aesthetic-predictor over 16-d embeddings
Outputs (written here):
  clip_openai.safetensors  the same weights in the OpenAI / open_clip layout (q,k,v stacked into
                           in_proj_weight/bias, visual.proj and text_projection transposed)
  clip_openai.pth          the same dict through torch.save (open_clip's .bin files are this)
  clip_openai.jit.pt       the same tensors as attributes of nested TorchScript modules through
                           torch.jit.save, with non-weight attributes beside them (a mask tensor,
                           ints, a list), as in OpenAI's clip.load(jit=True) files (ViT-L-14.pt)
  aesthetic.pth            the aesthetic head as torch.save(state_dict) (an OrderedDict, like
                           sac+logos+ava1-l14-linearMSE.pth)
  inputs.safetensors       "pixels" [3, 3, 32, 32] F32 from torch.manual_seed(20240601)
  expected.json            token ids / EOT positions, and for quick_gelu and gelu: projected
                           image embeddings, pooled outputs, text embeddings; aesthetic scores.

All goldens are computed in float64 (the weights and pixels are exactly representable), so they
are the exact answer for these fp32 inputs up to ~1e-15; an fp32 implementation lands within
~1e-6 of them. The HF-layout forward pass below is cross-checked against a second one over the
OpenAI-layout dict that uses torch.nn.functional.multi_head_attention_forward (PyTorch's own
attention, as open_clip uses it): they must agree to 1e-10, which also validates the conversion.
"""
import collections
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "data", "clip"))

ST_TO_TORCH = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
               "F64": torch.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = collections.OrderedDict()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(blob[base + b:base + e]), dtype=ST_TO_TORCH[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def write_safetensors(path, tensors, metadata=None):
    """F32 safetensors, keys sorted, compact header padded with spaces to a multiple of 8."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


# ---- Reference CLIP, Hugging Face layout, float64 ---------------------------------------------

def act_fn(name):
    if name == "quick_gelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return lambda x: F.gelu(x)  # exact (erf) gelu
    raise ValueError(name)


def layer_norm(x, sd, prefix, eps):
    return F.layer_norm(x, (x.shape[-1],), sd[prefix + ".weight"], sd[prefix + ".bias"], eps)


def linear(x, sd, prefix, bias=True):
    return F.linear(x, sd[prefix + ".weight"], sd[prefix + ".bias"] if bias else None)


def self_attention(x, sd, prefix, heads, mask):
    """Multi-head attention as in 'Attention is all you need': q scaled by head_dim^-0.5."""
    b, t, d = x.shape
    hd = d // heads
    q = linear(x, sd, prefix + ".q_proj") * hd ** -0.5
    k = linear(x, sd, prefix + ".k_proj")
    v = linear(x, sd, prefix + ".v_proj")
    q, k, v = (z.reshape(b, t, heads, hd).permute(0, 2, 1, 3) for z in (q, k, v))
    w = q @ k.transpose(-1, -2)
    if mask is not None:
        w = w + mask
    o = torch.softmax(w, dim=-1) @ v
    return linear(o.permute(0, 2, 1, 3).reshape(b, t, d), sd, prefix + ".out_proj")


def encoder(x, sd, prefix, layers, heads, act, eps, mask=None):
    for n in range(layers):
        p = f"{prefix}.{n}"
        x = x + self_attention(layer_norm(x, sd, p + ".layer_norm1", eps), sd, p + ".self_attn",
                               heads, mask)
        h = layer_norm(x, sd, p + ".layer_norm2", eps)
        x = x + linear(act(linear(h, sd, p + ".mlp.fc1")), sd, p + ".mlp.fc2")
    return x


def image_features(sd, cfg, pixels, act):
    vc = cfg["vision_config"]
    eps, p = vc["layer_norm_eps"], vc["patch_size"]
    x = F.conv2d(pixels, sd["vision_model.embeddings.patch_embedding.weight"], stride=p)
    x = x.flatten(2).transpose(1, 2)  # [B, patches, D]
    cls = sd["vision_model.embeddings.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + sd["vision_model.embeddings.position_embedding.weight"]
    x = layer_norm(x, sd, "vision_model.pre_layrnorm", eps)
    x = encoder(x, sd, "vision_model.encoder.layers", vc["num_hidden_layers"],
                vc["num_attention_heads"], act, eps)
    pooled = layer_norm(x[:, 0, :], sd, "vision_model.post_layernorm", eps)
    return pooled, linear(pooled, sd, "visual_projection", bias=False)


def causal_mask(t, dtype):
    return torch.full((t, t), float("-inf"), dtype=dtype).triu(1)


def text_features(sd, cfg, ids, eot, act):
    tc = cfg["text_config"]
    eps = tc["layer_norm_eps"]
    t = ids.shape[1]
    x = sd["text_model.embeddings.token_embedding.weight"][ids]
    x = x + sd["text_model.embeddings.position_embedding.weight"][:t]
    x = encoder(x, sd, "text_model.encoder.layers", tc["num_hidden_layers"],
                tc["num_attention_heads"], act, eps, causal_mask(t, x.dtype))
    x = layer_norm(x, sd, "text_model.final_layer_norm", eps)
    feat = x[torch.arange(x.shape[0]), eot]
    return linear(feat, sd, "text_projection", bias=False)


# ---- Second forward pass: OpenAI layout with PyTorch's multi_head_attention_forward ---------

def openai_encoder(x, sd, prefix, layers, heads, act, eps, mask=None):
    x = x.transpose(0, 1)  # [T, B, D], OpenAI's "LND"
    d = x.shape[-1]
    for n in range(layers):
        p = f"{prefix}.{n}"
        h = layer_norm(x, sd, p + ".ln_1", eps)
        a, _ = F.multi_head_attention_forward(
            h, h, h, d, heads, sd[p + ".attn.in_proj_weight"], sd[p + ".attn.in_proj_bias"],
            None, None, False, 0.0, sd[p + ".attn.out_proj.weight"], sd[p + ".attn.out_proj.bias"],
            training=False, need_weights=False, attn_mask=mask)
        x = x + a
        h = layer_norm(x, sd, p + ".ln_2", eps)
        x = x + linear(act(linear(h, sd, p + ".mlp.c_fc")), sd, p + ".mlp.c_proj")
    return x.transpose(0, 1)


def openai_image(sd, cfg, pixels, act):
    vc = cfg["vision_config"]
    eps = vc["layer_norm_eps"]
    x = F.conv2d(pixels, sd["visual.conv1.weight"], stride=vc["patch_size"]).flatten(2).transpose(1, 2)
    x = torch.cat([sd["visual.class_embedding"].expand(x.shape[0], 1, -1), x], 1)
    x = layer_norm(x + sd["visual.positional_embedding"], sd, "visual.ln_pre", eps)
    x = openai_encoder(x, sd, "visual.transformer.resblocks", vc["num_hidden_layers"],
                       vc["num_attention_heads"], act, eps)
    pooled = layer_norm(x[:, 0, :], sd, "visual.ln_post", eps)
    return pooled, pooled @ sd["visual.proj"]


def openai_text(sd, cfg, ids, eot, act):
    tc = cfg["text_config"]
    eps = tc["layer_norm_eps"]
    t = ids.shape[1]
    x = sd["token_embedding.weight"][ids] + sd["positional_embedding"][:t]
    x = openai_encoder(x, sd, "transformer.resblocks", tc["num_hidden_layers"],
                       tc["num_attention_heads"], act, eps, causal_mask(t, x.dtype))
    x = layer_norm(x, sd, "ln_final", eps)
    return x[torch.arange(x.shape[0]), eot] @ sd["text_projection"]


def to_openai(hf, cfg):
    out = collections.OrderedDict()
    ren = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc",
           "mlp.fc2": "mlp.c_proj", "self_attn.out_proj": "attn.out_proj"}
    for tower, src, dst, cfg_key in (("vision", "vision_model.encoder.layers",
                                      "visual.transformer.resblocks", "vision_config"),
                                     ("text", "text_model.encoder.layers",
                                      "transformer.resblocks", "text_config")):
        for n in range(cfg[cfg_key]["num_hidden_layers"]):
            s, d = f"{src}.{n}", f"{dst}.{n}"
            for old, new in ren.items():
                for wb in ("weight", "bias"):
                    out[f"{d}.{new}.{wb}"] = hf[f"{s}.{old}.{wb}"]
            for wb, name in (("weight", "in_proj_weight"), ("bias", "in_proj_bias")):
                out[f"{d}.attn.{name}"] = torch.cat(
                    [hf[f"{s}.self_attn.{x}_proj.{wb}"] for x in ("q", "k", "v")], 0)
    simple = {
        "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
        "vision_model.embeddings.class_embedding": "visual.class_embedding",
        "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "logit_scale": "logit_scale",
    }
    for old, new in simple.items():
        out[new] = hf[old]
    for old, new in (("vision_model.pre_layrnorm", "visual.ln_pre"),
                     ("vision_model.post_layernorm", "visual.ln_post"),
                     ("text_model.final_layer_norm", "ln_final")):
        for wb in ("weight", "bias"):
            out[f"{new}.{wb}"] = hf[f"{old}.{wb}"]
    out["visual.proj"] = hf["visual_projection.weight"].t().contiguous()
    out["text_projection"] = hf["text_projection.weight"].t().contiguous()
    return out


def aesthetic(sd, emb):
    """improved-aesthetic-predictor: Linear layers 0, 2, 4, 6, 7, no activations, on the
    L2-normalised embedding (a zero norm counts as 1)."""
    norm = emb.norm(dim=-1, keepdim=True)
    x = emb / torch.where(norm == 0, torch.ones_like(norm), norm)
    for i in (0, 2, 4, 6, 7):
        x = F.linear(x, sd[f"layers.{i}.weight"], sd[f"layers.{i}.bias"])
    return x[:, 0]


class Node(torch.nn.Module):
    """A module that only holds attributes (TorchScript needs a forward)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def save_torchscript(sd, path):
    root = Node()
    for key, value in sd.items():
        *parents, leaf = key.split(".")
        m = root
        for p in parents:
            if p not in m._modules:
                m.add_module(p, Node())
            m = m._modules[p]
        m.register_parameter(leaf, torch.nn.Parameter(value.clone(), requires_grad=False))
    # What OpenAI's scripted CLIP holds beside its weights: a plain tensor attribute (its causal
    # mask), ints, a list (pickled through torch.jit._pickle.build_intlist).
    root.transformer.resblocks._modules["0"].attn_mask = torch.full((4, 4), float("-inf")).triu(1).float()
    root.input_resolution = 32
    root.sizes = [1, 2, 3]
    torch.jit.save(torch.jit.script(root), path)


def main():
    torch.set_default_dtype(torch.float64)
    with open(os.path.join(DATA, "clip_config.json")) as f:
        cfg = json.load(f)
    hf32 = read_safetensors(os.path.join(DATA, "clip.safetensors"))
    hf = {k: v.double() for k, v in hf32.items()}
    head32 = read_safetensors(os.path.join(DATA, "aesthetic.safetensors"))
    head = {k: v.double() for k, v in head32.items()}

    oa32 = to_openai(hf32, cfg)
    write_safetensors(os.path.join(DATA, "clip_openai.safetensors"), oa32,
                      {"format": "pt", "ghx": "tiny clip v1, OpenAI layout (make_clip_fixture.py)"})
    torch.save(dict(oa32), os.path.join(DATA, "clip_openai.pth"))
    save_torchscript(oa32, os.path.join(DATA, "clip_openai.jit.pt"))
    torch.save(collections.OrderedDict((k, head32[k]) for k in sorted(head32)),
               os.path.join(DATA, "aesthetic.pth"))
    oa = {k: v.double() for k, v in oa32.items()}

    vc, tc = cfg["vision_config"], cfg["text_config"]
    size = vc["image_size"]
    gen = torch.Generator().manual_seed(20240601)
    # Roughly the range of CLIP-normalised pixels (about -1.8 .. 2.1).
    pixels32 = (torch.randn(3, 3, size, size, generator=gen, dtype=torch.float32) * 0.9).clamp(-1.8, 2.1)
    write_safetensors(os.path.join(DATA, "inputs.safetensors"), {"pixels": pixels32},
                      {"ghx": "CLIP test inputs (make_clip_fixture.py)"})
    pixels = pixels32.double()

    vocab, context = tc["vocab_size"], tc["max_position_embeddings"]
    sot, eot_id = vocab - 2, vocab - 1
    ids, eots = [], []
    for n_tokens in (3, 10, 0, context - 2):  # SOT + n tokens + EOT; the last one fills all 77
        body = torch.randint(1, vocab - 2, (n_tokens,), generator=gen).tolist()
        seq = [sot] + body + [eot_id]
        eots.append(len(seq) - 1)
        ids.append(seq + [0] * (context - len(seq)))
    ids_t = torch.tensor(ids)
    eot_t = torch.tensor(eots)
    assert eot_t.tolist() == ids_t.argmax(dim=1).tolist()  # EOT is the largest id, as in CLIP

    expected = {
        "comment": "Goldens from tests/models/make_clip_fixture.py (independent float64 PyTorch "
                   "reference CLIP; no transformers here).",
        "ids": ids, "eot": eots, "activations": {},
    }
    for act_name in ("quick_gelu", "gelu"):
        act = act_fn(act_name)
        pooled, projected = image_features(hf, cfg, pixels, act)
        texts = text_features(hf, cfg, ids_t, eot_t, act)
        pooled2, projected2 = openai_image(oa, cfg, pixels, act)
        texts2 = openai_text(oa, cfg, ids_t, eot_t, act)
        for a, b in ((pooled, pooled2), (projected, projected2), (texts, texts2)):
            assert (a - b).abs().max().item() < 1e-10, (a - b).abs().max().item()
        expected["activations"][act_name] = {
            "image_projected": projected.tolist(),
            "image_pooled": pooled.tolist(),
            "text": texts.tolist(),
            "aesthetic": aesthetic(head, projected).tolist(),
        }
    q, g = expected["activations"]["quick_gelu"], expected["activations"]["gelu"]
    diff = max(abs(a - b) for ra, rb in zip(q["image_projected"], g["image_projected"])
               for a, b in zip(ra, rb))
    assert diff > 1e-3, diff  # the activation must matter for the test to mean anything
    expected["aesthetic_zero"] = aesthetic(head, torch.zeros(1, head["layers.0.weight"].shape[1])).item()
    with open(os.path.join(DATA, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print("quick_gelu vs gelu: max |projected difference| =", diff)
    print("wrote", sorted(os.listdir(DATA)))


if __name__ == "__main__":
    main()
