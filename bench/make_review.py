#!/usr/bin/env python3
"""Writes a synthetic review of about N_STEPS planned steps, and the same DAG for ninja and snakemake.

Usage: bench/make_review.py N_STEPS OUTDIR      (python3 standard library only)

OUTDIR/review.toml     the review (synthetic backend; [models] vgg19 = OUTDIR/models/vgg19.safetensors,
                       which this script does not write: run `ghx models tiny OUTDIR/models`)
OUTDIR/suite.toml      its style suite: STYLES styles, each with its own prompts and TARGETS target images
OUTDIR/targets/        the small target PNGs (distinct content, so no two target_features steps share a key)
OUTDIR/build.ninja     the same DAG for ninja: every rule is `touch $out`
OUTDIR/Snakefile       the same DAG for snakemake (wildcard rules): every rule is `touch {output}`
OUTDIR/shape.json      the shape and the exact step count all three should plan

The shape is ghx's plan of a style section (src/plan/plan.cpp):
  per style target file         one target_features       (t/<style>_<k>)
  per (prompt, checkpoint, image) one generate             (g/<id>)
                                -> one image_features      (f/<id>)
                                -> one metric              (m/<id>; inputs: f/<id> + every t/ of its style)
  one aggregate over all metrics (aggregate) -> one report (report)
so steps = 3 * prompts * CHECKPOINTS * IMAGES + STYLES * TARGETS + 2.
"""
import json
import os
import struct
import sys
import zlib

CHECKPOINTS = 10
BATCH_SIZE, N_ITER = 2, 2
IMAGES = BATCH_SIZE * N_ITER  # images per (prompt, checkpoint)
STYLES = 4
TARGETS = 2  # target images per style


def png(path, w, h, rgb):
    """A w x h PNG: a two-colour checkerboard whose colours depend on `rgb` (distinct bytes per file)."""
    a = bytes(rgb)
    b = bytes(255 - c for c in rgb)
    raw = b"".join(b"\x00" + b"".join(a if ((x // 4) + (y // 4)) % 2 else b for x in range(w)) for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    n_steps = int(sys.argv[1])
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)

    fixed = STYLES * TARGETS + 2
    per_prompt = 3 * CHECKPOINTS * IMAGES
    total_prompts = max(STYLES, round((n_steps - fixed) / per_prompt))
    # prompts per style: as even as possible
    prompts_per_style = [total_prompts // STYLES + (1 if s < total_prompts % STYLES else 0) for s in range(STYLES)]
    steps = total_prompts * per_prompt + fixed

    # ---- ghx --------------------------------------------------------------------------------
    for s in range(STYLES):
        for k in range(TARGETS):
            png(os.path.join(out, "targets", f"s{s}", f"{k + 1}.png"), 16, 16,
                ((37 * s + 101 * k) % 256, (59 * s + 13 * k + 40) % 256, (83 * s + 29 * k + 80) % 256))

    suite = ['[suite]', 'name = "bench-styles"', '']
    for s in range(STYLES):
        prompts = ", ".join(toml_str(f"synthetic bench prompt {p} of style s{s}") for p in range(prompts_per_style[s]))
        suite += ['[[style]]', f'id = "s{s}"', f'prompts = [{prompts}]', f'targets = "targets/s{s}/"', '']
    write(os.path.join(out, "suite.toml"), "\n".join(suite))

    review = [
        "# Planner benchmark review, written by bench/make_review.py: "
        f"{steps} steps ({total_prompts} prompts x {CHECKPOINTS} checkpoints x {IMAGES} images x 3 + "
        f"{STYLES * TARGETS} targets + aggregate + report).",
        "[experiment]",
        f'name = "plan-bench-{steps}"',
        'version = "1"',
        "seed = 1",
        "",
        "[generation]",
        'backend = "synthetic"',
        'sampler = "DPM++ 2M Karras"',
        "steps = 20",
        "cfg_scale = 7.0",
        "width = 64",
        "height = 64",
        f"batch_size = {BATCH_SIZE}",
        f"n_iter = {N_ITER}",
        'negative_prompt = "lowres"',
        "",
    ]
    for c in range(CHECKPOINTS):
        review += ["[[checkpoint]]", f'name = "ckpt{c}"', f'backend_name = "bench_ckpt{c}.safetensors"', ""]
    review += [
        "[models]",
        'vgg19 = { file = "models/vgg19.safetensors" }',
        "",
        "[metrics]",
        'style_loss = { variant = "ghostreview" }',
        "",
        "[[section]]",
        'id = "style"',
        'styles = "suite.toml"',
        'metrics = ["style_loss"]',
        "",
    ]
    write(os.path.join(out, "review.toml"), "\n".join(review))

    # ---- the same DAG for ninja -------------------------------------------------------------
    ids = []
    style_of = []
    for s in range(STYLES):
        for p in range(prompts_per_style[s]):
            for c in range(CHECKPOINTS):
                for i in range(IMAGES):
                    ids.append(f"s{s}_p{p}_c{c}_i{i}")
                    style_of.append(s)
    targets = {s: [f"t/s{s}_{k}" for k in range(TARGETS)] for s in range(STYLES)}
    lines = ["# Written by bench/make_review.py: the DAG of review.toml, every step a `touch`.",
             "rule touch", "  command = touch $out", ""]
    for s in range(STYLES):
        for t in targets[s]:
            lines.append(f"build {t}: touch")
    for id_, s in zip(ids, style_of):
        lines.append(f"build g/{id_}: touch")
        lines.append(f"build f/{id_}: touch g/{id_}")
        lines.append(f"build m/{id_}: touch f/{id_} " + " ".join(targets[s]))
    lines.append("build aggregate: touch " + " ".join(f"m/{i}" for i in ids))
    lines.append("build report: touch aggregate")
    lines.append("default report")
    write(os.path.join(out, "build.ninja"), "\n".join(lines) + "\n")

    # ---- the same DAG for snakemake (wildcard rules; the first rule is the target) -------------
    snake = f'''# Written by bench/make_review.py: the DAG of review.toml, every step a `touch`.
STYLES = {STYLES}
PROMPTS_PER_STYLE = {prompts_per_style!r}
CHECKPOINTS = {CHECKPOINTS}
IMAGES = {IMAGES}
TARGETS = {TARGETS}
IDS = [f"s{{s}}_p{{p}}_c{{c}}_i{{i}}" for s in range(STYLES) for p in range(PROMPTS_PER_STYLE[s])
       for c in range(CHECKPOINTS) for i in range(IMAGES)]
TARGET_FILES = {{f"s{{s}}": [f"t/s{{s}}_{{k}}" for k in range(TARGETS)] for s in range(STYLES)}}

wildcard_constraints:
    id = r"s[0-9]+_p[0-9]+_c[0-9]+_i[0-9]+",
    t = r"s[0-9]+_[0-9]+"

rule report:
    input: "aggregate"
    output: "report"
    shell: "touch {{output}}"

rule aggregate:
    input: expand("m/{{id}}", id=IDS)
    output: "aggregate"
    shell: "touch {{output}}"

rule metric:
    input:
        feat = "f/{{id}}",
        targets = lambda w: TARGET_FILES[w.id.split("_")[0]]
    output: "m/{{id}}"
    shell: "touch {{output}}"

rule image_features:
    input: "g/{{id}}"
    output: "f/{{id}}"
    shell: "touch {{output}}"

rule generate:
    output: "g/{{id}}"
    shell: "touch {{output}}"

rule target_features:
    output: "t/{{t}}"
    shell: "touch {{output}}"
'''
    write(os.path.join(out, "Snakefile"), snake)

    shape = {"steps": steps, "prompts": total_prompts, "prompts_per_style": prompts_per_style,
             "checkpoints": CHECKPOINTS, "images_per_prompt": IMAGES, "styles": STYLES,
             "targets_per_style": TARGETS,
             "by_kind": {"generate": len(ids), "image_features": len(ids), "metric": len(ids),
                         "target_features": STYLES * TARGETS, "aggregate": 1, "report": 1}}
    write(os.path.join(out, "shape.json"), json.dumps(shape, indent=2) + "\n")
    print(f"{out}: {steps} steps ({total_prompts} prompts x {CHECKPOINTS} checkpoints x {IMAGES} images x 3 "
          f"+ {STYLES * TARGETS} targets + 2)")


if __name__ == "__main__":
    main()
