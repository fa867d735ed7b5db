"""Regenerate the shipped data: `make sample-data` (python -m helpers.sample_data).

Writes, for a task (`--task`, default hiring), into data/<task>/:

    prompts.jsonl             the whole prompt pool (train/validation/test), from the seeded generator
    sample_responses.jsonl    K responses of the SFT policy (00's warm start) to each training prompt of the `cpu` profile
    sample_model.txt          which model wrote the responses
    sample_preferences.jsonl  comparisons of those responses labelled by the simulated recruiters
    DATASHEET.md              its statistics section, rewritten from the files above

These files let every later notebook run on its own. They are made by this command, never edited by hand.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import re
import time
from pathlib import Path

from . import annotators, config, generation, models, records, report, sft, tasks

STATS_BEGIN = "<!-- stats:begin (written by python -m helpers.sample_data; do not edit) -->"
STATS_END = "<!-- stats:end -->"


def generate_responses(model, tokenizer, prompts: list[dict], profile: config.Profile, desc="sampling") -> list[dict]:
    """K sampled responses per prompt with the profile's generation settings, as rows for JSONL."""
    samples = generation.sample(model, tokenizer, prompts, k=profile.responses_per_prompt,
                                max_new_tokens=profile.max_new_tokens, temperature=profile.temperature,
                                top_p=profile.top_p, batch_size=profile.gen_batch_size, seed=profile.seed,
                                max_prompt_tokens=profile.max_prompt_tokens, desc=desc)
    return [dataclasses.asdict(s) for s in samples]


def load_or_generate(path: Path, model_name: str, model, tokenizer, prompts: list[dict], profile: config.Profile,
                     desc: str = "sampling") -> tuple[list[dict], dict]:
    """Responses from `path` when they were made with the same model, prompts and settings; else generate
    and save them. A re-run of the pipeline thus does not redo generation. FEEDBACKLOOP_FRESH=1 forces it."""
    import json
    import os
    meta = {"model": model_name, "prompt_ids": [p["id"] for p in prompts], "k": profile.responses_per_prompt,
            "max_new_tokens": profile.max_new_tokens, "temperature": profile.temperature, "top_p": profile.top_p,
            "seed": profile.seed}
    meta_path = path.with_name(path.stem + ".meta.json")
    fresh = os.environ.get("FEEDBACKLOOP_FRESH", "").strip() in ("1", "true", "yes")
    if not fresh and path.exists() and meta_path.exists():
        saved = json.loads(meta_path.read_text())
        if {k: saved.get(k) for k in meta} == meta:
            return records.load_rows(path), {"reused": True, "seconds": saved["seconds"]}
    start = time.perf_counter()
    rows = generate_responses(model, tokenizer, prompts, profile, desc)
    seconds = round(time.perf_counter() - start, 1)
    records.save_rows(rows, path)
    meta_path.write_text(json.dumps({**meta, "seconds": seconds}))
    return rows, {"reused": False, "seconds": seconds}


def responses_by_prompt(rows: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = collections.defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["prompt_id"], r["sample"])):
        out[r["prompt_id"]].append(r["text"])
    return dict(out)


def stats_markdown(prefs: list[dict], responses: list[dict], model_name: str, profile: config.Profile,
                   task: tasks.Task) -> str:
    pairs = {r["tags"]["pair_id"] for r in prefs}
    by_winner = collections.Counter(r["winner"] for r in prefs)
    lines = [STATS_BEGIN, "",
             f"- Made on {records.now()[:10]} with `{model_name}`, profile `{profile.name}` settings "
             f"(temperature {profile.temperature}, top-p {profile.top_p}, at most {profile.max_new_tokens} new tokens).",
             f"- {len({r['prompt_id'] for r in responses})} training prompts x {profile.responses_per_prompt} responses "
             f"= {len(responses)} responses; {sum(r['finished'] for r in responses)} ended on their own, "
             f"the rest were cut at the token limit.",
             f"- {len(pairs)} comparisons, each labelled by {profile.annotators_per_pair} of the "
             f"{len(task.personas)} simulated annotators: {len(prefs)} preference records.",
             "- Winner distribution: " + ", ".join(f"{w} {by_winner[w]} ({by_winner[w] / len(prefs):.0%})" for w in records.WINNERS) + ".",
             "", "| annotator | labels | a | b | tie |", "|---|---|---|---|---|"]
    for name in task.personas:
        mine = [r for r in prefs if r["annotator"] == name]
        c = collections.Counter(r["winner"] for r in mine)
        lines.append(f"| {name} | {len(mine)} | {c['a']} | {c['b']} | {c['tie']} |")
    kinds = collections.Counter(r["kind"] for r in prefs)
    lines += ["", "| prompt kind | records |", "|---|---|"] + [f"| {k} | {kinds[k]} |" for k in task.kinds]
    return "\n".join(lines + ["", STATS_END])


def write_datasheet_stats(path: Path, stats: str) -> None:
    text = path.read_text()
    pattern = re.compile(re.escape(STATS_BEGIN) + ".*?" + re.escape(STATS_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path}: the statistics markers are missing; restore them from git.")
    path.write_text(pattern.sub(lambda _: stats, text))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", help="whose settings to use (default: cpu)")
    parser.add_argument("--task", default=None, help="which task (default: FEEDBACKLOOP_TASK, else hiring)")
    parser.add_argument("--prompts-only", action="store_true", help="only rewrite prompts.jsonl")
    parser.add_argument("--relabel", action="store_true",
                        help="keep sample_responses.jsonl and only redo the comparisons and labels")
    parser.add_argument("--from-run", action="store_true",
                        help="take the answers a pipeline run of this profile made (00's responses.jsonl, from its SFT "
                             "policy) instead of sampling again")
    args = parser.parse_args(argv)
    profile = config.choose_profile(args.profile)
    task = tasks.get(args.task)
    where = config.paths(profile, task.name).data
    where.mkdir(parents=True, exist_ok=True)
    n = task.write_prompts(where / "prompts.jsonl")
    print(f"wrote {n} prompts to {where / 'prompts.jsonl'}")
    if args.prompts_only:
        return
    config.seed_everything(profile.seed)
    start = time.perf_counter()
    prompts = task.load_prompts("train", profile.n_train_prompts, where / "prompts.jsonl")
    paths = config.paths(profile, task.name)
    if args.relabel:
        responses = records.load_rows(where / "sample_responses.jsonl")
        model_name = (where / "sample_model.txt").read_text().strip()
    elif args.from_run:
        import json
        run = paths.generated / "responses.jsonl"
        meta = json.loads(run.with_name("responses.meta.json").read_text()) if run.exists() else {}
        if meta.get("prompt_ids") != [p["id"] for p in prompts]:
            raise SystemExit(f"{run} holds no {profile.name} run's answers to these prompts: run 00_setup first")
        responses, model_name = records.load_rows(run), meta["model"]
    else:   # the answers 01 compares come from the SFT policy (trained here through helpers/sft.py if 00 did not)
        source = sft.policy_source(task, profile, config.choose_precision(), paths.make())
        tokenizer, model = models.load_tokenizer(source), models.load_model(source, "policy", frozen=True)
        responses = generate_responses(model, tokenizer, prompts, profile)
        model_name = source.name
    if not args.relabel:
        records.save_rows(responses, where / "sample_responses.jsonl")
        (where / "sample_model.txt").write_text(model_name + "\n")
    pairs = records.make_pairs(responses_by_prompt(responses), profile.pairs_per_prompt, profile.seed)
    prefs = annotators.label_pairs(pairs, {p["id"]: p for p in prompts}, profile.annotators_per_pair, task,
                                   profile.seed)
    records.write_jsonl(prefs, where / "sample_preferences.jsonl")
    write_datasheet_stats(where / "DATASHEET.md", stats_markdown(prefs, responses, model_name, profile, task))
    print(f"wrote {len(responses)} responses and {len(prefs)} preference records ({len(pairs)} comparisons) "
          f"in {time.perf_counter() - start:.0f} s, peak memory {report.peak_memory_mb():.0f} MB")


if __name__ == "__main__":
    main()


def responses_for(paths: config.Paths, prompts: list[dict]) -> tuple[list[dict], Path]:
    """This profile's base-model answers from 00 when present, else the shipped sample's answers to the same
    prompts. Returns (rows, the file they came from)."""
    own = paths.generated / "responses.jsonl"
    source = own if own.exists() else paths.data / "sample_responses.jsonl"
    wanted = {p["id"] for p in prompts}
    rows = [r for r in records.load_rows(source) if r["prompt_id"] in wanted]
    if not rows:
        raise FileNotFoundError(f"{source} has no answers for these prompts: run 00_setup first.")
    return rows, source
