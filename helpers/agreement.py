"""How far to trust the labels: agreement statistics, per-annotator checks, a p-chart, flags, aggregation.

The statistics come from maintained libraries: Cohen's kappa from scikit-learn, Fleiss' kappa from statsmodels,
Krippendorff's alpha from `krippendorff` (nominal level). This module only arranges the labels for them.
Labels are nominal: `a`, `b`, `tie` ("both bad" counts as a tie).
"""

from __future__ import annotations

import collections
import math

import numpy as np
import pandas as pd

CATEGORIES = ("a", "b", "tie")
CODE = {c: i for i, c in enumerate(CATEGORIES)}


def _canonical(winner: str) -> str | None:
    return "tie" if winner in ("tie", "both_bad") else winner if winner in ("a", "b") else None


def label_table(labels: list[dict], items: dict[str, dict] | None = None) -> pd.DataFrame:
    """Items x annotators table of first-pass labels on ordinary (non-gold) items; NaN where unlabelled."""
    rows = collections.defaultdict(dict)
    for lab in labels:
        if lab.get("repeat") or (items and items[lab["item_id"]]["is_gold"]):
            continue
        winner = _canonical(lab["winner"])
        if winner is not None:
            rows[lab["item_id"]][lab["annotator"]] = winner
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


# ------------------------------------------------------------------ agreement

def cohen_pairwise(table: pd.DataFrame, min_common: int = 5) -> pd.DataFrame:
    """Cohen's kappa for each pair of annotators on the items both labelled (NaN below min_common)."""
    from sklearn.metrics import cohen_kappa_score
    names = list(table.columns)
    out = pd.DataFrame(np.nan, index=names, columns=names)
    for i, a in enumerate(names):
        out.loc[a, a] = 1.0
        for b in names[i + 1:]:
            both = table[[a, b]].dropna()
            if len(both) >= min_common:
                k = cohen_kappa_score(both[a], both[b], labels=list(CATEGORIES))
                out.loc[a, b] = out.loc[b, a] = k
    return out


def fleiss(table: pd.DataFrame) -> tuple[float, int]:
    """Fleiss' kappa over the items with the most common number of ratings (Fleiss needs equal counts);
    returns (kappa, number of items used)."""
    from statsmodels.stats.inter_rater import fleiss_kappa
    counts = table.notna().sum(axis=1)
    if counts.empty:
        return float("nan"), 0
    k = counts.mode().iloc[0]
    rows = table[counts == k]
    matrix = np.array([[sum(1 for v in row if v == c) for c in CATEGORIES] for row in rows.itertuples(index=False)])
    if len(matrix) < 2 or k < 2:
        return float("nan"), len(matrix)
    return float(fleiss_kappa(matrix, method="fleiss")), len(matrix)


def krippendorff_alpha(table: pd.DataFrame) -> float:
    """Krippendorff's alpha, nominal level; handles any number of annotators per item and missing labels."""
    import krippendorff
    if table.empty or (table.notna().sum(axis=1) < 2).all():
        return float("nan")   # no item has two labels: nothing to agree on
    data = table.T.apply(lambda col: col.map(CODE)).to_numpy(dtype=float)
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal", value_domain=[0, 1, 2]))


def item_coincidences(table: pd.DataFrame) -> np.ndarray:
    """Krippendorff's coincidence matrix of each item (nominal codes of CODE), (items, 3, 3): every ordered pair of
    two labels of the item, weighted 1 / (labels - 1). An item with fewer than two labels contributes zeros."""
    codes = table.apply(lambda col: col.map(CODE)).to_numpy(dtype=float)      # items x annotators
    counts = np.stack([(codes == v).sum(axis=1) for v in range(3)], axis=1)    # items x 3 values
    m = counts.sum(axis=1)
    pairs = counts[:, :, None] * counts[:, None, :] - np.einsum("uc,ck->uck", counts, np.eye(3))
    return np.where((m >= 2)[:, None, None], pairs / np.maximum(m - 1, 1)[:, None, None], 0.0)


def alpha_from_coincidences(c: np.ndarray) -> float:
    """Nominal alpha from a summed coincidence matrix: 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k."""
    n_c = c.sum(axis=1)
    n = n_c.sum()
    off = ~np.eye(len(c), dtype=bool)
    expected = (np.outer(n_c, n_c)[off]).sum()
    return float("nan") if expected == 0 or n < 2 else float(1 - (n - 1) * c[off].sum() / expected)


def bootstrap_alpha(table: pd.DataFrame, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of alpha, resampling items with replacement. Each resample's alpha is computed from
    the items' coincidence matrices, weighted by how often the resample drew each item: the number the
    `krippendorff` package gives for the resampled table (tests/test_agreement.py), in a fraction of the time."""
    rng = np.random.default_rng(seed)
    per_item = item_coincidences(table).reshape(len(table), -1)
    draws = np.stack([np.bincount(rng.integers(0, len(table), len(table)), minlength=len(table)) for _ in range(n)])
    values = [alpha_from_coincidences(c.reshape(3, 3)) for c in draws @ per_item]
    values = [v for v in values if not math.isnan(v)]   # a resample with one category has no alpha
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))) if values else (float("nan"),) * 2


def landis_koch(k: float) -> str:
    """Landis & Koch (1977) words for a kappa."""
    if math.isnan(k):
        return "n/a"
    for bound, word in ((0, "poor"), (0.2, "slight"), (0.4, "fair"), (0.6, "moderate"), (0.8, "substantial")):
        if k <= bound:
            return word
    return "almost perfect"


def alpha_verdict(a: float) -> str:
    """Krippendorff's (2004) guidance: rely on data with alpha >= 0.8; >= 0.667 for tentative conclusions."""
    if math.isnan(a):
        return "n/a"
    return "reliable (>= 0.8)" if a >= 0.8 else "tentative (>= 0.667)" if a >= 0.667 else "unreliable (< 0.667)"


# ------------------------------------------------------------------ per annotator

def _binom_p(k: int, n: int) -> float:
    """Two-sided binomial test against 0.5."""
    from scipy.stats import binomtest
    return float(binomtest(k, n, 0.5).pvalue) if n else 1.0


def annotator_report(labels: list[dict], items: dict[str, dict], favoured: tuple[str, ...] = (),
                     batch: int = 40) -> pd.DataFrame:
    """Per annotator: gold accuracy, name-swap behaviour, self-consistency, tie rate, position and length bias,
    and agreement with the other annotators' majority; `drift_batches` counts the annotator's p-chart points
    (batches of `batch` queue positions) below the lower control limit.

    `favoured`: first names of the groups a name-biased annotator would favour; on name-swap gold items the
    share of non-tie answers that pick the side naming one of them is reported (0.5 is no preference).
    """
    by_ann = collections.defaultdict(list)
    for lab in labels:
        by_ann[lab["annotator"]].append(lab)
    first_pass = {(l["annotator"], l["item_id"]): _canonical(l["winner"]) for l in labels if not l["repeat"]}
    table = label_table(labels, items)
    chart = p_chart(labels, items, batch)
    drift = chart.groupby("annotator").below.sum() if len(chart) else pd.Series(dtype=int)
    rows = []
    for name, labs in sorted(by_ann.items()):
        firsts = [l for l in labs if not l["repeat"]]
        gold = [l for l in firsts if items[l["item_id"]]["is_gold"]]
        clear = [l for l in gold if items[l["item_id"]]["gold_type"] == "clear"]
        swaps = [l for l in gold if items[l["item_id"]]["gold_type"] == "name_swap"]
        safety = [l for l in gold if items[l["item_id"]]["gold_type"] == "safety"]   # support: takeover requests
        repeats = [l for l in labs if l["repeat"] and (name, l["item_id"]) in first_pass]
        decided = [l for l in firsts if l["winner"] in ("a", "b")]
        # position bias over every decided item, gold included: identical name-swap pairs expose it best
        left = sum(l["winner"] == l["left_side"] for l in decided)
        long_pairs: list[bool] = []
        for l in (l for l in decided if not items[l["item_id"]]["is_gold"]):
            it = items[l["item_id"]]
            la, lb = len(it["response_a"].split()), len(it["response_b"].split())
            if max(la, lb) >= 1.2 * max(1, min(la, lb)):
                long_pairs.append((l["winner"] == "a") == (la > lb))
        swap_decided = [l for l in swaps if l["winner"] in ("a", "b")]
        fav = sum(_names_favoured(items[l["item_id"]], l["winner"], favoured) for l in swap_decided)
        others = table.drop(columns=[name], errors="ignore")
        agree = []
        for item_id, row in table[name].dropna().items() if name in table else []:
            votes = collections.Counter(v for v in others.loc[item_id].dropna())
            if votes:
                top, count = votes.most_common(1)[0]
                if list(votes.values()).count(count) == 1:
                    agree.append(row == top)
        rows.append({
            "annotator": name, "labels": len(firsts),
            "gold_accuracy": _mean([_canonical(l["winner"]) == items[l["item_id"]]["gold_answer"] for l in gold]),
            "gold_n": len(gold),
            "clear_gold_accuracy": _mean([_canonical(l["winner"]) == items[l["item_id"]]["gold_answer"] for l in clear]),
            "safety_gold_accuracy": _mean([_canonical(l["winner"]) == items[l["item_id"]]["gold_answer"] for l in safety]),
            "safety_gold_n": len(safety),
            "name_swap_tie_rate": _mean([_canonical(l["winner"]) == "tie" for l in swaps]),
            "name_swap_favoured_share": fav / len(swap_decided) if swap_decided else float("nan"),
            "name_swap_p": _binom_p(fav, len(swap_decided)),
            "self_consistency": _mean([_canonical(l["winner"]) == first_pass[(name, l["item_id"])] for l in repeats]),
            "repeats_n": len(repeats),
            "tie_rate": _mean([_canonical(l["winner"]) == "tie" for l in firsts if not items[l["item_id"]]["is_gold"]]),
            "left_rate": left / len(decided) if decided else float("nan"),
            "left_p": _binom_p(left, len(decided)),
            "longer_rate": _mean(long_pairs),
            "longer_p": _binom_p(sum(long_pairs), len(long_pairs)),
            "agreement_with_others": _mean(agree),
            "drift_batches": int(drift.get(name, 0)),
        })
    return pd.DataFrame(rows).set_index("annotator")


def side_preference(choices: list[dict], key: str) -> pd.DataFrame:
    """Does an annotator pick answers by an attribute that should not matter? `choices`: one row per labelled pair
    of otherwise identical answers, with `annotator`, `winner` ('a', 'b' or 'tie') and the attribute of each side
    (`<key>_a`, `<key>_b`, different). Per annotator and value: the pairs showing it, how often its side was picked
    among the decided ones (0.5: no preference), the two-sided binomial p, Holm-corrected over the values, and the
    annotator's tie rate."""
    from statsmodels.stats.multitest import multipletests
    df = pd.DataFrame(choices)
    rows = []
    for name, part in df.groupby("annotator", sort=True):
        values = sorted(set(part[f"{key}_a"]) | set(part[f"{key}_b"]))
        decided = part[part.winner.isin(["a", "b"])]
        picked = decided[f"{key}_a"].where(decided.winner == "a", decided[f"{key}_b"])
        stats = []
        for v in values:
            shown = (decided[f"{key}_a"] == v) | (decided[f"{key}_b"] == v)
            k, n = int((picked[shown] == v).sum()), int(shown.sum())
            stats.append((v, k, n, _binom_p(k, n)))
        holm = multipletests([s[3] for s in stats], method="holm")[1]
        for (v, k, n, p), ph in zip(stats, holm):
            rows.append({"annotator": name, key: v, "decided": n, "picked_share": k / n if n else float("nan"),
                         "p": p, "p_holm": float(ph), "tie_rate": float((part.winner == "tie").mean())})
    return pd.DataFrame(rows).set_index(["annotator", key])


def _mean(xs) -> float:
    xs = list(xs)
    return float(np.mean(xs)) if xs else float("nan")


def _names_favoured(item: dict, winner: str, favoured: tuple[str, ...]) -> bool:
    chosen = item["response_a"] if winner == "a" else item["response_b"]
    return any(f"{first} " in chosen for first in favoured)


MIN_N = 5   # no verdict on an annotator from fewer than this many gold items or repeats
FLAG_RULES = {
    "gold accuracy below 0.8": lambda r: r.gold_n >= MIN_N and r.gold_accuracy < 0.8,
    "name bias: prefers one name in identical answers": lambda r: r.name_swap_tie_rate < 0.5 and r.name_swap_p < 0.05,
    "safety: prefers helping into another's account (safety gold accuracy below 0.8)":
        lambda r: r.get("safety_gold_n", 0) >= MIN_N and r.safety_gold_accuracy < 0.8,
    "self-consistency below 0.75": lambda r: r.repeats_n >= MIN_N and r.self_consistency < 0.75,
    "drift: gold accuracy fell below the p-chart's lower limit": lambda r: r.get("drift_batches", 0) > 0,
}
WARN_RULES = {
    "position bias (prefers the left answer)": lambda r: abs(r.left_rate - 0.5) > 0.05 and r.left_p < 0.01,
    "length preference (prefers the longer answer)": lambda r: r.longer_rate > 0.6 and r.longer_p < 0.05,
}


def flags(report: pd.DataFrame) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(flagged, warned): annotator -> reasons. Flagged annotators are excluded from the aggregate labels;
    warnings are shown, not acted on."""
    flagged = {n: [why for why, rule in FLAG_RULES.items() if rule(r)] for n, r in report.iterrows()}
    warned = {n: [why for why, rule in WARN_RULES.items() if rule(r)] for n, r in report.iterrows()}
    return {n: v for n, v in flagged.items() if v}, {n: v for n, v in warned.items() if v}


# ------------------------------------------------------------------ drift

def p_chart(labels: list[dict], items: dict[str, dict], batch: int = 40) -> pd.DataFrame:
    """A p-chart of gold accuracy: one point per annotator and batch of queue positions. The centre line is
    the accuracy of all gold labels pooled (the process average), and each point's 3-sigma limits follow from
    its own number of gold labels, p-bar ± 3·sqrt(p-bar(1 - p-bar)/n)."""
    gold = [l for l in labels if not l["repeat"] and items[l["item_id"]]["is_gold"] and l["position"] is not None]
    cols = ["annotator", "batch", "positions", "n", "p", "center", "lcl", "ucl", "below", "above"]
    if not gold:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame({"annotator": [l["annotator"] for l in gold], "batch": [l["position"] // batch for l in gold],
                       "correct": [_canonical(l["winner"]) == items[l["item_id"]]["gold_answer"] for l in gold]})
    center = df.correct.mean()
    out = df.groupby(["annotator", "batch"]).correct.agg(n="size", p="mean").reset_index()
    sigma = np.sqrt(center * (1 - center) / out.n)
    out["center"], out["lcl"], out["ucl"] = center, (center - 3 * sigma).clip(0, 1), (center + 3 * sigma).clip(0, 1)
    out["below"], out["above"] = out.p < out.lcl, out.p > out.ucl
    out["positions"] = [f"{b * batch + 1}-{(b + 1) * batch}" for b in out.batch]
    return out[cols]


# ------------------------------------------------------------------ aggregation

def aggregate(exported: list[dict], exclude: tuple[str, ...] = ()) -> tuple[list[dict], dict]:
    """One record per pair by majority vote over annotators not in `exclude`. A pair whose top votes are
    split between a and b is resolved as a tie (and counted). Returns (records, counts)."""
    by_pair = collections.defaultdict(list)
    for r in exported:
        if r["annotator"] not in exclude and not r.get("is_gold"):
            by_pair[(r.get("tags") or {}).get("pair_id") or r["id"].split("@")[0]].append(r)
    out, counts = [], collections.Counter()
    for pair_id, recs in sorted(by_pair.items()):
        votes = collections.Counter(r["winner"] for r in recs)
        ranked = votes.most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            winner, how = "tie", "split"
        else:
            winner, how = ranked[0][0], "unanimous" if len(ranked) == 1 else "majority"
        counts[how] += 1
        counts[f"winner_{winner}"] += 1
        base = recs[0]
        stamps = [r["created_at"] for r in recs if r.get("created_at")]      # optional fields stay optional
        out.append({**{k: base[k] for k in ("task", "kind", "prompt_id", "prompt", "response_a", "response_b") if k in base},
                    "id": f"{pair_id}@majority", "winner": winner, "annotator": "majority_vote",
                    "rationale": f"{how}: " + ", ".join(f"{w} {n}" for w, n in ranked),
                    "scores": {}, "is_gold": False, **({"created_at": max(stamps)} if stamps else {}),
                    "tags": {**{k: v for k, v in (base.get("tags") or {}).items() if k not in ("left_side", "verdict")},
                             "pair_id": pair_id, "votes": dict(votes), "resolution": how,
                             "annotators": sorted(r["annotator"] for r in recs)}})
    return out, dict(counts)


def load_aggregated(paths) -> tuple[list[dict], list[dict], str]:
    """(majority labels with every annotator, majority labels without the flagged ones, where they came from) for a
    profile's `config.Paths`: the files `01_annotate` wrote, or else the shipped sample aggregated here with the
    flags of the published report."""
    from . import records, report
    own = paths.generated / "preferences_aggregated.jsonl"
    if own.exists():
        return (records.read_jsonl(own), records.read_jsonl(paths.generated / "preferences_aggregated_clean.jsonl"),
                "01_annotate")
    sample = records.read_jsonl(paths.data / "sample_preferences.jsonl")
    published = type(paths)(paths.root, "cpu", paths.task).reports / "metrics.json"   # this task's published run
    flagged = list(report.read(published).get("annotation", {}).get("flagged_annotators", {})) if published.exists() else []
    return aggregate(sample)[0], aggregate(sample, exclude=tuple(flagged))[0], "the shipped sample"


def heldout_prompt_ids(aggregated: list[dict], every: int, task=None) -> set[str]:
    """Every `every`-th prompt id in sorted order: the comparisons on these prompts are never trained on
    (`02_reward_model`, `04_dpo` and `05` hold out the same ones with `PROFILE.heldout_every`, so their held-out
    accuracies compare). A task made from a preference file (`task.preferences`) holds out its own split instead:
    the prompts of its validation and test splits, drawn by prompt when the file was read."""
    if task is not None and task.preferences is not None:
        held = {p["id"] for split in ("validation", "test") for p in task.load_prompts(split)}
        return held & {r["prompt_id"] for r in aggregated}
    return set(sorted({r["prompt_id"] for r in aggregated})[::every])


def main(argv: list[str] | None = None) -> None:
    """Bring your own preference file: `python -m helpers.agreement FILE [--task T] [--profile P]`.

    Reads the record format of helpers/records.py or TRL's preference rows (helpers/preference_io.py: standard or
    conversational, a JSONL or JSON file or a save_to_disk folder), validates every row (a bad one is named by file,
    line and field, and nothing is written), aggregates the labels by majority vote as 01_annotate does, and writes
    the two files 02, 04 and 05 train on into data/generated/<task>/<profile>/. Files an earlier run left there are
    kept beside them, renamed `<name>.before-<time>`, and the command says so. The records' `prompt_id`s should be
    prompts of the task (its gold rubric judges against them); without gold items, nobody is flagged, so both files
    hold the same labels."""
    import argparse

    from . import config, preference_io, records
    parser = argparse.ArgumentParser(description=main.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", help="preference records (helpers/records.py) or TRL preference rows")
    parser.add_argument("--task", default=None, help="the task they belong to (default: FEEDBACKLOOP_TASK, else hiring)")
    parser.add_argument("--profile", default=None, help="the run they are for (default: the automatic profile)")
    args = parser.parse_args(argv)
    paths = config.paths(config.choose_profile(args.profile), args.task).make()
    try:
        recs = preference_io.read(args.file, task=paths.task).records
    except (ValueError, OSError) as e:
        raise SystemExit(f"error: {e}\nnothing was written") from None
    other = sorted({r["task"] for r in recs} - {paths.task})
    if other:
        raise SystemExit(f"{args.file}: records of task {', '.join(other)}, not {paths.task} (use --task)")
    majority, counts = aggregate(recs)
    stamp = records.now().replace(":", "").replace("+0000", "Z")
    for name, rows in (("preferences.jsonl", recs), ("preferences_aggregated.jsonl", majority),
                       ("preferences_aggregated_clean.jsonl", majority)):
        target = paths.generated / name
        if target.exists():
            kept = target.rename(target.with_name(f"{name}.before-{stamp}"))
            print(f"{target.relative_to(config.ROOT)} existed: kept as {kept.name}")
        records.write_jsonl(rows, target)
    print(f"{len(recs)} labels on {len(majority)} comparisons ({dict(counts)}) -> "
          f"{(paths.generated / 'preferences_aggregated.jsonl').relative_to(config.ROOT)}; 02_reward_model, 04_dpo and "
          "05 train on it (01_annotate, if run again, writes its own over it)")


if __name__ == "__main__":
    main()
