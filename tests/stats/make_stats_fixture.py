#!/usr/bin/env python3
"""Writes tests/data/stats/{aggregates,expected}.json for tests/stats/test_stats.cpp.

An independent, deliberately plain implementation of docs/statistics.md (dicts and lists, one
formula at a time), not a translation of the C++ code: the C++ test compares its results with
these to 1e-12 relative. Python 3 standard library only. Run from anywhere:

    python3 tests/exec/make_stats_fixture.py

What it follows from the document: per-metric means, seed spreads and per-prompt z-scores (with the
sigma tolerance rule), NoTM tables, score and rank, the variance split, the paired two-level
bootstrap (pass 1: strata = sections; pass 2: strata = (section, group)), percentile intervals,
`se`, and the adjacent-rank verdicts (two-sided bootstrap p, Holm).
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

RESAMPLING = "prompts within sections, then seeds within each drawn prompt, paired across checkpoints"
VERDICTS = "Holm over adjacent ranks"


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


# ---------------------------------------------------------------------------------------------
# small helpers

def mean(xs):
    return sum(xs) / len(xs)


def sample_std(xs):
    """Sample standard deviation (n - 1); a single value counts as spread 0."""
    if len(xs) < 2:
        return 0.0
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def population_std(xs):
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def lower_is_better(name):
    return name.startswith("style_loss") or name.startswith("lora_loss")


# ---------------------------------------------------------------------------------------------
# prompts, seeds, strata, tables

def prompt_key(a, p):
    return a["section"] + "/" + p


def prompts_of(aggregates):
    """Over all aggregates' rows in input order: sections (first-seen), each section's prompt keys
    (first-seen), each prompt's group (group of its first row) and seed labels (first-seen)."""
    sections = []          # [section, ...]
    section_prompts = {}   # section -> [prompt key, ...]
    group = {}             # prompt key -> group of its first row
    seeds = {}             # prompt key -> [seed label, ...]
    for a in aggregates:
        if a["section"] not in section_prompts:
            sections.append(a["section"])
            section_prompts[a["section"]] = []
        for c, p, g, s, v in a["rows"]:
            key = prompt_key(a, p)
            if key not in group:
                section_prompts[a["section"]].append(key)
                group[key] = g
                seeds[key] = []
            if s not in seeds[key]:
                seeds[key].append(s)
    return sections, section_prompts, group, seeds


def strata_sections(sections, section_prompts):
    """Pass 1: one stratum per section, its prompts in first-seen order."""
    return [section_prompts[s] for s in sections]


def strata_groups(sections, section_prompts, group):
    """Pass 2: one stratum per (section, group) pair in first-seen order; prompts without a group
    are not drawn. Sections are already in first-seen order and their prompts too, so walking them
    gives the pairs in first-seen order."""
    order, strata = [], {}
    for s in sections:
        for key in section_prompts[s]:
            g = group[key]
            if not g:
                continue
            if (s, g) not in strata:
                order.append((s, g))
                strata[(s, g)] = []
            strata[(s, g)].append(key)
    return [strata[sg] for sg in order]


def tables_of(aggregates, seeds):
    """[(name, table)] in order: one table per metric (first-seen), `<metric>_notm` right after it
    when any aggregate of that metric carries notm_exclude.

    table = {"prompts": [prompt keys with a row in this table, first-seen],
             "rows": {(c, key): [non-missing values in row order]},
             "at": {(c, key): {seed index: [non-missing values]}}}
    """
    notm_metrics = {a["metric"] for a in aggregates if "notm_exclude" in a}
    order, tables = [], {}

    def table(name):
        if name not in tables:
            order.append(name)
            tables[name] = {"prompts": [], "rows": {}, "at": {}}
        return tables[name]

    for a in aggregates:
        table(a["metric"])
        if a["metric"] in notm_metrics:
            table(a["metric"] + "_notm")
    for a in aggregates:
        excluded = [(c, g) for c, g in a.get("notm_exclude", [])]
        for c, p, g, s, v in a["rows"]:
            key = prompt_key(a, p)
            targets = [table(a["metric"])]
            if a["metric"] in notm_metrics and (c, g) not in excluded:
                targets.append(table(a["metric"] + "_notm"))
            for t in targets:
                if key not in t["prompts"]:
                    t["prompts"].append(key)
                if v is None:
                    continue  # a failed image: skipped everywhere
                t["rows"].setdefault((c, key), []).append(v)
                t["at"].setdefault((c, key), {}).setdefault(seeds[key].index(s), []).append(v)
    return [(name, tables[name]) for name in order], notm_metrics


def scored_metrics(tables, notm_metrics):
    """m_notm replaces m among the scored metrics."""
    return [name for name, _ in tables if name not in notm_metrics]


# ---------------------------------------------------------------------------------------------
# the estimates: one function of a list of slots (prompt key, drawn seed indices)

def slot_cells(t, slots):
    """Per slot: {c: values at the drawn seed indices} for the checkpoints that have a value."""
    out = []
    for key, idxs in slots:
        cells = {}
        for c in NAMES:
            at = t["at"].get((c, key))
            if at is None:
                continue
            vs = []
            for i in idxs:           # a seed drawn twice counts twice
                vs.extend(at.get(i, []))  # a missing value is skipped
            if vs:
                cells[c] = vs
        out.append((key, cells))
    return out


def z_scores(cells):
    """{c: z} for one slot (or prompt): x̄ per checkpoint, μ and population σ across them, z = 0
    when σ ≤ 1e-9 · max |x̄|."""
    xbar = {c: mean(vs) for c, vs in cells.items()}
    if not xbar:
        return {}
    mu = mean(list(xbar.values()))
    sigma = population_std(list(xbar.values()))
    tol = 1e-9 * max(abs(x) for x in xbar.values())
    z = {}
    for c, x in xbar.items():
        z[c] = 0.0 if sigma <= tol else (x - mu) / sigma
    return z


def estimates(tables, group, slots):
    """{table name: {c: {"m": .., "z": .., "g": {g: ..}, "zg": {g: ..}}}} (keys only where c has a
    value), computed with the slots in place of prompts."""
    out = {}
    for name, t in tables:
        per_slot = slot_cells(t, slots)
        zs = [z_scores(cells) for _, cells in per_slot]
        groups = []
        for key, _ in per_slot:
            if group[key] and group[key] not in groups:
                groups.append(group[key])
        est = {}
        for c in NAMES:
            e = {"g": {}, "zg": {}}
            allv = [v for _, cells in per_slot for v in cells.get(c, [])]
            if allv:
                e["m"] = mean(allv)
            zc = [z[c] for z in zs if c in z]
            if zc:
                e["z"] = mean(zc)
            for g in groups:
                gv = [v for key, cells in per_slot if group[key] == g for v in cells.get(c, [])]
                if gv:
                    e["g"][g] = mean(gv)
                zg = [z[c] for (key, _), z in zip(per_slot, zs) if group[key] == g and c in z]
                if zg:
                    e["zg"][g] = mean(zg)
            est[c] = e
        out[name] = est
    return out


def scores(scored, est):
    """Score(c) = (1 / M) Σ d_m · z.m(c); a checkpoint without a scored metric gets 0 for it."""
    out = {}
    for c in NAMES:
        total = 0.0
        for m in scored:
            d = -1.0 if lower_is_better(m) else 1.0
            total += d * est[m][c].get("z", 0.0)
        out[c] = total / len(scored)
    return out


def keyed(name, e):
    """The result keys of one checkpoint's estimates for table `name`: (key, value, pass)."""
    out = []
    if "m" in e:
        out.append((name, e["m"], 1))
    if "z" in e:
        out.append(("z." + name, e["z"], 1))
    for g, v in e["g"].items():
        out.append((name + "." + g, v, 2))
    for g, v in e["zg"].items():
        out.append(("z." + name + "." + g, v, 2))
    return out


def m_std(t, c):
    """Mean over the prompts c has of the sample std (n - 1) over its values; None if c has none."""
    cells = [t["rows"][(c, key)] for key in t["prompts"] if (c, key) in t["rows"]]
    if not cells:
        return None
    return mean([sample_std(vs) for vs in cells])


# ---------------------------------------------------------------------------------------------
# variance split (unchanged)

def variance(t):
    xs = [(c, key, v) for c in NAMES for key in t["prompts"] for v in t["rows"].get((c, key), [])]
    grand = mean([v for _, _, v in xs])
    total = sum((v - grand) ** 2 for _, _, v in xs)
    ss_c = 0.0
    for c in NAMES:
        vs = [v for cc, _, v in xs if cc == c]
        if vs:
            ss_c += len(vs) * (mean(vs) - grand) ** 2
    ss_p = 0.0
    for key in t["prompts"]:
        vs = [v for _, kk, v in xs if kk == key]
        if vs:
            ss_p += len(vs) * (mean(vs) - grand) ** 2
    ss_s = sum((v - mean(t["rows"][(c, key)])) ** 2 for c, key, v in xs)
    inter = max(0.0, total - ss_c - ss_p - ss_s)
    if total == 0:
        shares = [0.0, 0.0, 0.0, 0.0]
    else:
        shares = [ss_c / total, ss_p / total, inter / total, ss_s / total]
    return {"checkpoint": shares[0], "prompt": shares[1], "checkpoint_x_prompt": shares[2],
            "seed": shares[3], "total_ss": total, "n": len(xs)}


# ---------------------------------------------------------------------------------------------
# generator, draws, quantiles

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
    """Type 7."""
    h = (len(sorted_xs) - 1) * q
    j = math.floor(h)
    if j + 1 >= len(sorted_xs):
        return sorted_xs[-1]
    return sorted_xs[j] + (h - j) * (sorted_xs[j + 1] - sorted_xs[j])


def interval(xs):
    s = sorted(xs)
    return [quantile(s, (1 - CI) / 2), quantile(s, (1 + CI) / 2)]


def draw_replicate(rng, strata, seeds):
    """One replicate: per stratum in order, k = max(1, n - 1) slots; per slot the prompt draw, then
    that prompt's m seed-index draws."""
    slots = []
    for prompts in strata:
        n = len(prompts)
        for _ in range(max(1, n - 1)):
            key = prompts[rng.below(n)]
            m = len(seeds[key])
            idxs = [rng.below(m) for _ in range(m)]
            slots.append((key, idxs))
    return slots


def identity_draw(strata, seeds):
    return [(key, list(range(len(seeds[key])))) for prompts in strata for key in prompts]


# ---------------------------------------------------------------------------------------------
# adjacent ranks

def replicated(tables, scored, section_of, upper, lower):
    """False when in some scored table and section that either checkpoint has prompts in, fewer
    than 2 prompts have values of both."""
    by_name = dict(tables)
    for m in scored:
        t = by_name[m]
        for section in sorted({section_of[key] for key in t["prompts"]}):
            keys = [key for key in t["prompts"] if section_of[key] == section]
            has_u = [key for key in keys if (upper, key) in t["rows"]]
            has_l = [key for key in keys if (lower, key) in t["rows"]]
            if not has_u and not has_l:
                continue
            both = [key for key in has_u if key in has_l]
            if len(both) < 2:
                return False
    return True


def holm(gaps):
    """Sets p_holm on the gaps that have a p: sorted by p (ties by rank), p_holm(i) =
    min(1, max over j ≤ i of (k - j + 1) · p_(j))."""
    with_p = [g for g in gaps if g["p"] is not None]
    k = len(with_p)
    with_p.sort(key=lambda g: (g["p"], g["rank"]))
    running = 0.0
    for i, g in enumerate(with_p, 1):
        running = max(running, (k - i + 1) * g["p"])
        g["p_holm"] = min(1.0, running)


def b_needed(k):
    """The smallest B ≥ 200 whose smallest p-value 2 / (B + 1) reaches the first Holm step (1 - ci) / k."""
    b = 200
    while 2.0 / (b + 1) > (1 - CI) / k:
        b += 1
    return b


def notes_of(gaps):
    notes = []
    if len(NAMES) == 2:
        notes.append("Two checkpoints: every per-prompt z-score is -1, 0 or +1, so the score counts the "
                     "prompts each checkpoint wins, not by how much.")
    k = len([g for g in gaps if g["p"] is not None])
    if BOOTSTRAP > 0 and k > 0 and 2.0 / (BOOTSTRAP + 1) > (1 - CI) / k:
        notes.append("bootstrap = %d is too few for the Holm-corrected tails of %d adjacent pair%s at "
                     "ci = %g: use at least %d." % (BOOTSTRAP, k, "" if k == 1 else "s", CI, b_needed(k)))
    return notes


# ---------------------------------------------------------------------------------------------

def main():
    aggregates = make_aggregates()
    sections, section_prompts, group, seeds = prompts_of(aggregates)
    section_of = {key: s for s in sections for key in section_prompts[s]}
    tables, notm_metrics = tables_of(aggregates, seeds)
    scored = scored_metrics(tables, notm_metrics)
    strata1 = strata_sections(sections, section_prompts)
    strata2 = strata_groups(sections, section_prompts, group)

    # point estimates: the same function on the identity draw
    est = estimates(tables, group, identity_draw(strata1, seeds))
    score = scores(scored, est)
    ranked = sorted(NAMES, key=lambda c: (-score[c], c))

    # bootstrap: one stream, pass 1 (sections) then pass 2 (groups, when some prompt has a group)
    rng = SplitMix64(STAT_SEED)
    reps1 = []  # per replicate: (estimates, scores)
    for _ in range(BOOTSTRAP):
        r = estimates(tables, group, draw_replicate(rng, strata1, seeds))
        reps1.append((r, scores(scored, r)))
    reps2 = []  # per replicate: estimates
    if strata2:
        for _ in range(BOOTSTRAP):
            reps2.append(estimates(tables, group, draw_replicate(rng, strata2, seeds)))

    def replicate_values(name, c, key, pss):
        vs = []
        for r in (reps1 if pss == 1 else reps2):
            rest = r[0] if pss == 1 else r
            for k2, v, _ in keyed(name, rest[name][c]):
                if k2 == key:
                    vs.append(v)  # a replicate without a value is left out
        return vs

    checkpoints = []
    for rank, c in enumerate(ranked, 1):
        metrics, ci, se = {}, {}, {}
        for name, t in tables:
            s = m_std(t, c)
            if s is not None:
                metrics[name + "_std"] = s
            for key, v, pss in keyed(name, est[name][c]):
                metrics[key] = v
                if BOOTSTRAP > 0:
                    vs = replicate_values(name, c, key, pss)
                    if vs:
                        ci[key] = interval(vs)
                        se[key] = sample_std(vs)  # 0 for a single replicate
        excluded = sorted({g for a in aggregates for cc, g in a.get("notm_exclude", []) if cc == c})
        entry = {"name": c, "identity": dict(CHECKPOINTS)[c], "rank": rank, "score": score[c],
                 "metrics": metrics, "notm_excluded": excluded}
        if BOOTSTRAP > 0:
            ci["score"] = interval([r[1][c] for r in reps1])
            se["score"] = sample_std([r[1][c] for r in reps1])
            entry["ci"] = ci
            entry["se"] = se
        checkpoints.append(entry)

    gaps = []
    for r in range(len(ranked) - 1):
        u, l = ranked[r], ranked[r + 1]
        gap = {"rank": r + 1, "upper": u, "lower": l, "diff": score[u] - score[l],
               "ci": None, "p": None, "p_holm": None}
        if BOOTSTRAP > 0:
            d = [rep[1][u] - rep[1][l] for rep in reps1]
            gap["ci"] = interval(d)
            if replicated(tables, scored, section_of, u, l):
                at_most = sum(1 for x in d if x <= 0)
                at_least = sum(1 for x in d if x >= 0)
                gap["p"] = min(1.0, 2.0 * (1 + min(at_most, at_least)) / (BOOTSTRAP + 1))
        gaps.append(gap)
    holm(gaps)
    for gap in gaps:
        if gap["p"] is None:
            gap["verdict"] = "cannot tell"
        elif gap["p_holm"] <= 1 - CI:
            gap["verdict"] = "beyond noise"
        else:
            gap["verdict"] = "within noise"
        gap["beyond_noise"] = gap["verdict"] == "beyond noise"

    expected = {
        "review": {"checkpoints": CHECKPOINTS, "bootstrap": BOOTSTRAP, "ci": CI, "seed": STAT_SEED},
        "checkpoints": checkpoints,
        "variance": {name: variance(t) for name, t in tables},
        "rank_gaps": gaps,
        "statistics": {"bootstrap": BOOTSTRAP, "ci": CI, "seed": STAT_SEED,
                       "resampling": RESAMPLING, "verdicts": VERDICTS},
        "notes": notes_of(gaps),
    }
    os.makedirs(OUT, exist_ok=True)
    for name, doc in [("aggregates.json", aggregates), ("expected.json", expected)]:
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()
