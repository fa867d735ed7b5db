"""Can the 135M model learn the hiring decision? SFT on careful assessments only, judged on test assessments.

    python -m benchmarks.learnability --card job_order --demos 320 --layers 8     # one configuration, one process
    python -m benchmarks.learnability --report                                    # the table and the figure

Each run fine-tunes the profile's base model (TRL's SFTTrainer through helpers.sft, LoRA on the top `--layers` blocks,
0 = all) on `--demos` careful assessments (every decision taught is right: it follows world.SCREENING_RULE), written in
the `--answer` format for prompts rendered with the `--card` form, then answers the pool's test assessments greedily
and at the evaluation temperature. It appends one row to reports/learnability.jsonl: decision accuracy, how often the
required skills the answer lists as held and as missing are exactly right, the false-gap rate (a held required skill
named as missing) and the seconds it took. `--report` writes reports/LEARNABILITY.md and reports/learnability.png.

Card forms (the candidate's line of the prompt):
    listed      the candidate's skills in the generator's (random) order, as the task renders them today
    job_order   the required skills the candidate holds first, in the job's order, then the others
Answer formats (the prompt's instruction, world.INSTRUCTIONS, states the screening rule for both):
    evidence    evidence first: "Holds A, B and C (3 of 4 required); missing D. 5 yrs, 4+ asked. Decision: advance"
    walk        the task's careful assessment (world.checklist): the job's required skills one by one, then the count
                and the years against the rule: "Has A, has B, no C, has D: 3 of 4 required. 5 yrs, 4+ asked: enough
                years. Decision: advance"
Before the task adopted the walk, its assessments were a sentence of prose; with prose, LoRA on the top 8 blocks and
316 demonstrations, an earlier probe decided right 0.56 greedy (issue notes, not in this table).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import tempfile
import time
from pathlib import Path

from helpers import config, models, sft
from helpers.generation import sample
from helpers.tasks.hiring import rubric, world

OUT = config.ROOT / "reports" / "learnability.jsonl"


def carded(p: dict, card: str) -> dict:
    """The prompt with the candidate's skills in the card's order (the task's instruction states the rule)."""
    q = copy.deepcopy(p)
    if card == "job_order":
        req = q["job"]["required"]
        q["candidate"]["skills"] = [s for s in req if s in q["candidate"]["skills"]] + \
            [s for s in q["candidate"]["skills"] if s not in req]
    elif card != "listed":
        raise ValueError(f"unknown card form {card!r}")
    q["messages"] = world.messages(q)
    return q


def _and(xs: list[str]) -> str:
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]


def evidence_answer(p: dict) -> str:
    """The careful recruiter's evidence-first assessment."""
    c, f, job = p["candidate"], p["facts"], p["job"]
    held, missing, n = f["relevant_skills"], f["missing_skills"], len(job["required"])
    if not missing:
        skills = f"Holds all {n} required: {_and(held)}."
    elif not held:
        skills = f"Holds none of the {n} required; missing {_and(missing)}."
    else:
        skills = f"Holds {_and(held)} ({len(held)} of {n} required); missing {_and(missing)}."
    years = f"{c['years']} yr{'' if c['years'] == 1 else 's'}"
    return f"{skills} {years}, {job['min_years']}+ asked.\nDecision: {f['decision']}"


def listed_as(text: str) -> tuple[set, set]:
    """The skills an evidence-format answer lists as held (before 'missing') and as missing (after it); a walk answer's
    by each skill's own cue."""
    if re.match(r"\s*(has|no)\b", text, re.I):
        framed = rubric.skill_mentions(text.split("\n")[0])
        return {s for s, f in framed if f == "held"}, {s for s, f in framed if f == "missing"}
    parts = re.split(r"\bmissing\b", text.split("\n")[0], maxsplit=1, flags=re.I)
    head, tail = parts[0], (parts[1] if len(parts) > 1 else "")
    tail = re.split(r"\.(?:\s|$)", tail, maxsplit=1)[0]
    return set(rubric.mentioned_skills(head)), set(rubric.mentioned_skills(tail))


def measure(prompts: list[dict], texts: list[str]) -> dict:
    right = held_ok = missing_ok = false_gap = said = 0
    for p, t in zip(prompts, texts):
        d = rubric.decision_of(t)
        said += d is not None
        right += d == p["facts"]["decision"]
        held, missing = listed_as(t)
        held_ok += held == set(p["facts"]["relevant_skills"])
        missing_ok += missing == set(p["facts"]["missing_skills"])
        false_gap += bool(missing & set(p["candidate"]["skills"]))
    n = len(prompts)
    return {"decision_accuracy": round(right / n, 4), "decided": round(said / n, 4), "held_exact": round(held_ok / n, 4),
            "missing_exact": round(missing_ok / n, 4), "false_gap_rate": round(false_gap / n, 4), "n": n}


def run(args) -> dict:
    profile, precision = config.choose_profile(), config.choose_precision()
    config.seed_everything(profile.seed)
    train = [carded(p, args.card) for p in world.generate(args.demos, seed=args.seed, kind="assessment")]
    test = [carded(p, args.card) for p in world.build_prompts()["test"] if p["kind"] == "assessment"]
    write = {"evidence": evidence_answer, "walk": world.checklist}[args.answer]
    rows = [{"prompt_id": p["id"], "kind": p["kind"], "writer": "writer_careful", "prompt": p["messages"],
             "completion": [{"role": "assistant", "content": write(p)}]} for p in train]
    prof = profile.__class__(**{**profile.__dict__, "sft_lora_layers": args.layers, "sft_epochs": args.epochs})
    base = models.resolve_model(profile)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        log = sft.train(base.path, rows, prof, precision, Path(tmp) / "policy", base.name)
        sft_seconds = time.perf_counter() - start
        model = models.load_model(str(Path(tmp) / "policy"), "policy", precision, frozen=True)
        tok = models.load_tokenizer(str(Path(tmp) / "policy"))
        out = {}
        for mode, greedy in (("greedy", True), ("t0.7", False)):
            got = sample(model, tok, test, max_new_tokens=profile.max_new_tokens, temperature=profile.eval_temperature,
                         top_p=profile.top_p, batch_size=profile.gen_batch_size, seed=profile.seed,
                         max_prompt_tokens=profile.max_prompt_tokens, greedy=greedy, desc=mode)
            out[mode] = {**measure(test, [g.text for g in got]), "examples": [g.text for g in got[:5]]}
            if greedy:   # every greedy answer, to read where the decision goes wrong (skills, years, or the rule)
                out[mode]["answers"] = {p["id"]: g.text for p, g in zip(test, got)}
    return {"card": args.card, "answer": args.answer, "demos": args.demos, "layers": args.layers, "epochs": args.epochs,
            "profile": profile.name, "precision": precision.describe(), "sft_seconds": round(sft_seconds, 1),
            "final_loss": log["log"][-1]["loss"] if log["log"] else None, "seconds": round(time.perf_counter() - start, 1),
            **out}


def report() -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [json.loads(x) for x in OUT.read_text().splitlines() if x.strip()]
    lines = ["# Learnability of the hiring decision: SFT on careful assessments, judged on the test assessments", "",
             "Written by `python -m benchmarks.learnability --report` from reports/learnability.jsonl (one row a run; "
             "each run's commit in its row). Decision accuracy, exact held and missing lists and the false-gap rate, "
             "greedy / temperature 0.7.", "",
             "| card | answer | demos | LoRA blocks | epochs | decision acc | held exact | missing exact | false gaps | "
             "SFT s | commit |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        g, t = r["greedy"], r["t0.7"]
        lines.append(f"| {r['card']} | {r['answer']} | {r['demos']} | {r['layers'] or 'all'} | {r['epochs']} | "
                     f"{g['decision_accuracy']:.2f} / {t['decision_accuracy']:.2f} | {g['held_exact']:.2f} / "
                     f"{t['held_exact']:.2f} | {g['missing_exact']:.2f} / {t['missing_exact']:.2f} | "
                     f"{g['false_gap_rate']:.2f} / {t['false_gap_rate']:.2f} | {r['sft_seconds']:.0f} | {r.get('commit', '')} |")
    (config.ROOT / "reports" / "LEARNABILITY.md").write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(6, 4))
    series = {}
    for r in rows:
        series.setdefault((r["card"], r["answer"], r["layers"]), []).append((r["demos"], r["greedy"]["decision_accuracy"]))
    for (card, answer, layers), pts in sorted(series.items()):
        pts.sort()
        ax.plot(*zip(*pts), marker="o", label=f"{card}, {answer}, LoRA {layers or 'all'}")
    ax.axhline(0.7, color="grey", ls="--", lw=1)
    ax.set(xscale="log", xlabel="careful demonstrations (assessments)", ylabel="decision accuracy (greedy)", ylim=(0.3, 1))
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(config.ROOT / "reports" / "learnability.png", dpi=120)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--card", default="job_order", choices=("listed", "job_order"))
    ap.add_argument("--answer", default="walk", choices=("evidence", "walk"))
    ap.add_argument("--demos", type=int, default=320)
    ap.add_argument("--layers", type=int, default=8, help="LoRA on the top N blocks, 0 = all")
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args(argv)
    if args.report:
        return report()
    from benchmarks.bench import commit
    row = {**run(args), "commit": commit()}
    OUT.parent.mkdir(exist_ok=True)
    with OUT.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps({k: v for k, v in row.items() if k not in ("precision",)}, indent=1))


if __name__ == "__main__":
    main()
