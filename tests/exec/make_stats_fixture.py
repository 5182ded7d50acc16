#!/usr/bin/env python3
"""Writes tests/data/stats/{aggregates,expected}.json for tests/exec/test_statistics.cpp.

An independent, deliberately plain implementation of docs/statistics.md (dicts and lists, one
formula at a time), not a translation of src/exec/statistics.cpp: the C++ test compares its results
with these to 1e-12 relative. Python 3 standard library only. Run from anywhere:

    python3 tests/exec/make_stats_fixture.py
"""
import json
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "stats")

CHECKPOINTS = [["A", "sha256:aaaa"], ["B", "sha256:bbbb"], ["C", "sha256:cccc"]]
NAMES = [c[0] for c in CHECKPOINTS]
SEEDS = ["100", "101", "102", "103"]
BOOTSTRAP, CI, STAT_SEED = 200, 0.9, 7


def make_aggregates():
    rnd = random.Random(20240607)
    # quality: higher is better, no groups; one failed image (null)
    rows = []
    for p in ["q1", "q2", "q3"]:
        for i, c in enumerate(NAMES):
            for s in SEEDS:
                rows.append([c, p, "", s, round(5.0 + 0.4 * i + rnd.uniform(-0.5, 0.5), 3)])
    rows[3 * 4 + 2 * 4 + 3][4] = None  # C, q2, seed 103
    quality = {"section": "quality", "metric": "aesthetic", "variant": "v", "rows": rows}
    # lora: a loss (lower is better), group = LoRA id, NoTM pairs (one for a checkpoint not under review)
    rows = []
    for p, g in [["s1", "L1"], ["s2", "L1"], ["s3", "L2"], ["s4", "L3"]]:
        for i, c in enumerate(NAMES):
            for s in SEEDS:
                rows.append([c, p, g, s, round(2.0 - 0.3 * i + rnd.uniform(-0.6, 0.6), 4)])
    rows[2 * 12 + 4 + 1][4] = None  # B, s3, seed 101
    lora = {"section": "lora", "metric": "lora_loss", "variant": "ghostreview", "rows": rows,
            "notm_exclude": [["A", "L1"], ["C", "L3"], ["C", "L1"], ["Z", "L2"]]}
    return [quality, lora]


def mean(xs):
    return sum(xs) / len(xs)


def tables_of(aggregates):
    """metric -> {"prompts": [...], "group": {prompt: g}, "cells": {(c, p): [values]}}, in order."""
    order, tables = [], {}

    def table(name):
        if name not in tables:
            order.append(name)
            tables[name] = {"prompts": [], "group": {}, "cells": {}}
        return tables[name]

    notm_metrics = {a["metric"] for a in aggregates if "notm_exclude" in a}
    for a in aggregates:  # creation order: m, then m_notm right after it
        table(a["metric"])
        if a["metric"] in notm_metrics:
            table(a["metric"] + "_notm")
    for a in aggregates:
        excluded = {(c, g) for c, g in a.get("notm_exclude", [])}
        for c, p, g, s, v in a["rows"]:
            key = a["section"] + "/" + p
            targets = [table(a["metric"])]
            if a["metric"] in notm_metrics and (c, g) not in excluded:
                targets.append(table(a["metric"] + "_notm"))
            for t in targets:
                if key not in t["group"]:
                    t["prompts"].append(key)
                    t["group"][key] = g
                if v is not None:
                    t["cells"].setdefault((c, key), []).append(v)
    return [(m, tables[m]) for m in order], notm_metrics


def estimates(name, t):
    """Per checkpoint: {key: value} for m, m.<g>, z.m, z.m.<g>."""
    out = {c: {} for c in NAMES}
    groups = []
    for p in t["prompts"]:
        if t["group"][p] and t["group"][p] not in groups:
            groups.append(t["group"][p])
    for c in NAMES:
        allv = [v for p in t["prompts"] for v in t["cells"].get((c, p), [])]
        if allv:
            out[c][name] = mean(allv)
        for g in groups:
            gv = [v for p in t["prompts"] if t["group"][p] == g for v in t["cells"].get((c, p), [])]
            if gv:
                out[c][name + "." + g] = mean(gv)
    z = {}  # (c, p) -> z
    for p in t["prompts"]:
        m = {c: mean(t["cells"][(c, p)]) for c in NAMES if t["cells"].get((c, p))}
        if not m:
            continue
        mu = mean(list(m.values()))
        sd = math.sqrt(sum((x - mu) ** 2 for x in m.values()) / len(m))
        for c, x in m.items():
            z[(c, p)] = (x - mu) / sd if sd > 0 else 0.0
    for c in NAMES:
        zs = [z[(c, p)] for p in t["prompts"] if (c, p) in z]
        if zs:
            out[c]["z." + name] = mean(zs)
        for g in groups:
            zg = [z[(c, p)] for p in t["prompts"] if t["group"][p] == g and (c, p) in z]
            if zg:
                out[c]["z." + name + "." + g] = mean(zg)
    return out


def sample_std(xs):
    if len(xs) < 2:
        return 0.0
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def lower_is_better(name):
    return name.startswith("style_loss") or name.startswith("lora_loss")


def scores(tables, notm_metrics, est):
    scored = [m for m, _ in tables if m not in notm_metrics]
    return {c: sum((-1 if lower_is_better(m) else 1) * est[m][c].get("z." + m, 0.0) for m in scored) / len(scored)
            for c in NAMES}


def variance(t):
    xs = [(c, p, v) for c in NAMES for p in t["prompts"] for v in t["cells"].get((c, p), [])]
    grand = mean([v for _, _, v in xs])
    total = sum((v - grand) ** 2 for _, _, v in xs)
    ss_c = 0.0
    for c in NAMES:
        vs = [v for cc, _, v in xs if cc == c]
        if vs:
            ss_c += len(vs) * (mean(vs) - grand) ** 2
    ss_p = 0.0
    for p in t["prompts"]:
        vs = [v for _, pp, v in xs if pp == p]
        if vs:
            ss_p += len(vs) * (mean(vs) - grand) ** 2
    ss_s = sum((v - mean(t["cells"][(c, p)])) ** 2 for c, p, v in xs)
    inter = max(0.0, total - ss_c - ss_p - ss_s)
    return {"checkpoint": ss_c / total, "prompt": ss_p / total, "checkpoint_x_prompt": inter / total,
            "seed": ss_s / total, "total_ss": total, "n": len(xs)}


class SplitMix64:
    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = seed

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def below(self, n):
        """Lemire: top 32 bits of next() times n; reject low words under 2^32 mod n."""
        m = (self.next() >> 32) * n
        if m % 2**32 < n:
            while m % 2**32 < 2**32 % n:
                m = (self.next() >> 32) * n
        return m >> 32


def quantile(sorted_xs, q):
    h = (len(sorted_xs) - 1) * q
    j = math.floor(h)
    if j + 1 >= len(sorted_xs):
        return sorted_xs[-1]
    return sorted_xs[j] + (h - j) * (sorted_xs[j + 1] - sorted_xs[j])


def interval(xs):
    s = sorted(xs)
    return [quantile(s, (1 - CI) / 2), quantile(s, (1 + CI) / 2)]


def main():
    aggregates = make_aggregates()
    tables, notm_metrics = tables_of(aggregates)
    est = {m: estimates(m, t) for m, t in tables}
    score = scores(tables, notm_metrics, est)
    ranked = sorted(NAMES, key=lambda c: (-score[c], c))

    # bootstrap: replicate, table, checkpoint, prompt, draw
    rng = SplitMix64(STAT_SEED)
    reps = []  # per replicate: (estimates, scores)
    for _ in range(BOOTSTRAP):
        rtables = []
        for m, t in tables:
            cells = {}
            for c in NAMES:
                for p in t["prompts"]:
                    vs = t["cells"].get((c, p), [])
                    if vs:
                        cells[(c, p)] = [vs[rng.below(len(vs))] for _ in vs]
            rtables.append((m, dict(t, cells=cells)))
        rest = {m: estimates(m, t) for m, t in rtables}
        reps.append((rest, scores(rtables, notm_metrics, rest)))

    checkpoints = []
    for rank, c in enumerate(ranked, 1):
        metrics, ci = {}, {}
        for m, t in tables:
            metrics.update(est[m][c])
            cells = [t["cells"][(c, p)] for p in t["prompts"] if t["cells"].get((c, p))]
            if cells:
                metrics[m + "_std"] = mean([sample_std(v) for v in cells])
            for key in est[m][c]:
                ci[key] = interval([r[0][m][c][key] for r in reps])
        ci["score"] = interval([r[1][c] for r in reps])
        excluded = sorted({g for a in aggregates for cc, g in a.get("notm_exclude", []) if cc == c})
        checkpoints.append({"name": c, "identity": dict(CHECKPOINTS)[c], "rank": rank, "score": score[c],
                            "metrics": metrics, "notm_excluded": excluded, "ci": ci})
    gaps = []
    for r in range(len(ranked) - 1):
        u, l = ranked[r], ranked[r + 1]
        d = [rep[1][u] - rep[1][l] for rep in reps]
        ci = interval(d)
        gaps.append({"rank": r + 1, "upper": u, "lower": l, "diff": score[u] - score[l], "ci": ci,
                     "p_order": sum(1 for rep in reps if rep[1][u] > rep[1][l]) / BOOTSTRAP,
                     "beyond_noise": ci[0] > 0})
    expected = {
        "review": {"checkpoints": CHECKPOINTS, "bootstrap": BOOTSTRAP, "ci": CI, "seed": STAT_SEED},
        "checkpoints": checkpoints,
        "variance": {m: variance(t) for m, t in tables},
        "rank_gaps": gaps,
        "statistics": {"bootstrap": BOOTSTRAP, "ci": CI, "seed": STAT_SEED,
                       "resampling": "seeds within (checkpoint, prompt) cells"},
    }
    os.makedirs(OUT, exist_ok=True)
    for name, doc in [("aggregates.json", aggregates), ("expected.json", expected)]:
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()
