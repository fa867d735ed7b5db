"""Preference data in the formats the ecosystem uses, read into the project's records (helpers/records.py).

Read (`read(source)`), detected row by row:
- **the record format** of helpers/records.py (`id`, `task`, `prompt`, `response_a`, `response_b`, `winner`,
  `annotator`, ...), validated as it is;
- **TRL's preference rows**, standard (`prompt`, `chosen`, `rejected` as strings) or conversational (lists of
  `{"role", "content"}` messages), with an explicit `prompt` or with the prompt implicit in both completions
  (TRL's own `maybe_extract_prompt` takes it out). A system message in the prompt is kept as the row's system prompt;
  an optional `annotator` column is kept, else the annotator is `file`;
- from a JSONL file, a JSON file holding a list of rows, a Hugging Face dataset saved with `save_to_disk` (a
  folder), or a Hub dataset id (where the Hub is reachable).

Left and right are randomized on the way in (seeded) and recorded (`tags.chosen_side`), so a file whose chosen
answer always comes first does not become a file where "a" always wins. Every row is checked before anything is
returned; an error names the file, the line (or row) and the field, and says how a row of another format maps.

    python -m helpers.preference_io SOURCE [--out FILE] [--seed N] [--force]

converts SOURCE to the record format, describes it (pairs, prompts, annotators, lengths, ties, chosen side) and
refuses to overwrite an existing FILE unless `--force`.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from . import records
from .records import RecordError

TRL_HINT = ("TRL's preference rows (prompt, chosen, rejected) are read by helpers.preference_io: prompt -> prompt, "
            "chosen and rejected -> response_a and response_b in a random order, winner = the chosen side")


@dataclass
class Preferences:
    """What a source held, as records, and how it was read."""
    records: list[dict]
    source: str
    formats: dict[str, int] = field(default_factory=dict)   # format -> rows
    system_prompts: dict[str, str] = field(default_factory=dict)   # prompt_id -> its system prompt, where one was given

    @property
    def system_prompt(self) -> str | None:
        """The one system prompt all rows share, else None (none given, or several)."""
        values = set(self.system_prompts.values())
        return values.pop() if len(values) == 1 and len(self.system_prompts) == len({r["prompt_id"] for r in self.records}) else None


def _rows(source: str | Path) -> list[tuple[str, object]]:
    """(where, row) for every row of a JSONL or JSON file, a saved dataset folder, or a Hub dataset id."""
    path = Path(source)
    if path.is_dir():
        import datasets
        data = datasets.load_from_disk(str(path))
        if isinstance(data, datasets.DatasetDict):
            split = "train" if "train" in data else next(iter(data))
            data = data[split]
        return [(f"{path} (row {i})", dict(r)) for i, r in enumerate(data, 1)]
    if path.is_file():
        if path.suffix == ".json":
            try:
                rows = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise RecordError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
            if not isinstance(rows, list):
                raise RecordError(f"{path}: a .json file must hold a list of rows (or use JSONL: one row a line)")
            return [(f"{path} (row {i})", r) for i, r in enumerate(rows, 1)]
        return records.json_lines(path)
    if "/" in str(source) and not str(source).startswith((".", "/")) and len(str(source).split("/")) == 2:
        import datasets
        try:
            data = datasets.load_dataset(str(source), split="train")
        except Exception as err:   # offline, unknown id, gated: the Hub's own message
            raise FileNotFoundError(f"{source}: not a local file or folder, and the Hub dataset could not be loaded "
                                    f"({type(err).__name__}: {err})") from None
        return [(f"{source} (row {i})", dict(r)) for i, r in enumerate(data, 1)]
    raise FileNotFoundError(f"{source}: no such file or folder (a JSONL or JSON file, a save_to_disk folder, or a Hub id)")


def _text(value, where: str, name: str, role: str | None = None) -> tuple[str, str | None]:
    """(text, system prompt) of a TRL field: a string, or messages (a system message first is split off)."""
    if isinstance(value, str):
        return value, None
    if not isinstance(value, list) or not value or not all(isinstance(m, dict) and "role" in m and "content" in m
                                                           for m in value):
        raise RecordError(f"{where}: field '{name}' must be a string or a list of {{'role', 'content'}} messages")
    system = None
    if value[0]["role"] == "system":
        system, value = value[0]["content"], value[1:]
    if len(value) != 1 or (role and value[0]["role"] != role):
        raise RecordError(f"{where}: field '{name}' must hold one {role or 'user'} message (after an optional system "
                          f"message); multi-turn conversations are not supported yet")
    if not isinstance(value[0]["content"], str):
        raise RecordError(f"{where}: field '{name}' holds a message whose content is not a string")
    return value[0]["content"], system


def from_trl(row: dict, where: str, number: int, task: str, rng: random.Random) -> tuple[dict, str | None]:
    """One TRL preference row as a record (left/right drawn from `rng`), and its system prompt if it has one."""
    for key in ("chosen", "rejected"):
        if key not in row:
            raise RecordError(f"{where}: field '{key}' is missing (TRL preference rows need chosen and rejected)")
    if "prompt" not in row or isinstance(row["prompt"], list) != isinstance(row["chosen"], list):
        from trl.data_utils import maybe_extract_prompt  # TRL's own rule for a prompt implicit in both completions
        row = {**row, **maybe_extract_prompt({"chosen": row["chosen"], "rejected": row["rejected"]})}
    prompt, system = _text(row["prompt"], where, "prompt", "user")
    chosen, _ = _text(row["chosen"], where, "chosen", "assistant")
    rejected, _ = _text(row["rejected"], where, "rejected", "assistant")
    left = rng.random() < 0.5
    prompt_id = f"{task}-" + hashlib.sha1(f"{system or ''}\n{prompt}".encode()).hexdigest()[:10]
    annotator = str(row.get("annotator") or "file")
    record = {"id": f"{prompt_id}:{number}@{annotator}", "task": task, "prompt_id": prompt_id, "prompt": prompt,
              "response_a": chosen if left else rejected, "response_b": rejected if left else chosen,
              "winner": "a" if left else "b", "annotator": annotator,
              "tags": {"chosen_side": "a" if left else "b", "source_row": where}}
    return records.validate(record, where), system


def read(source: str | Path, task: str | None = None, seed: int = 0) -> Preferences:
    """Every row of `source` as a validated record; the first bad row raises RecordError naming it and its field."""
    rows = _rows(source)
    if not rows:
        raise RecordError(f"{source}: no rows")
    task = task or Path(str(source)).stem.replace(".", "_")
    rng = random.Random(seed)
    out, formats, systems = [], {}, {}
    for number, (where, row) in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise RecordError(f"{where}: expected a JSON object, got {type(row).__name__}")
        if "chosen" in row or "rejected" in row:
            record, system = from_trl(row, where, number, task, rng)
            kind = "trl conversational" if isinstance(row.get("chosen"), list) else "trl standard"
            if system:
                systems[record["prompt_id"]] = system
        else:
            record, kind = records.validate(row, where), "records"
        formats[kind] = formats.get(kind, 0) + 1
        out.append(record)
    ids = [r["id"] for r in out]
    if len(set(ids)) < len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise RecordError(f"{source}: the id {dup!r} is used by more than one row: every record needs its own id")
    return Preferences(out, str(source), formats, systems)


def describe(prefs: Preferences) -> dict:
    """Counts and lengths a reader wants before training on a file."""
    import numpy as np
    recs = prefs.records
    words = [len(r[k].split()) for r in recs for k in ("response_a", "response_b")]
    sides = [r["tags"]["chosen_side"] for r in recs if "chosen_side" in r.get("tags", {})]
    return {"rows": len(recs), "prompts": len({r["prompt_id"] if "prompt_id" in r else r["prompt"] for r in recs}),
            "annotators": sorted({r["annotator"] for r in recs}), "formats": prefs.formats,
            "winners": {w: sum(r["winner"] == w for r in recs) for w in records.WINNERS},
            "prompt_words_median": float(np.median([len(r["prompt"].split()) for r in recs])),
            "response_words_median": float(np.median(words)),
            "chosen_first_share": round(sides.count("a") / len(sides), 3) if sides else None,
            "system_prompt": prefs.system_prompt}


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a JSONL or JSON file, a save_to_disk folder, or a Hub dataset id")
    parser.add_argument("--out", type=Path, help="write the records here (JSONL); default: only describe")
    parser.add_argument("--task", help="the records' task name (default: the source's file name)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the left/right order")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    args = parser.parse_args(argv)
    try:
        prefs = read(args.source, args.task, args.seed)
    except (RecordError, OSError) as e:
        raise SystemExit(f"error: {e}\nnothing was written") from None
    print(json.dumps(describe(prefs), indent=1))
    if args.out:
        if args.out.exists() and not args.force:
            raise SystemExit(f"{args.out} exists: nothing was written (a new --out, or --force to overwrite it)")
        records.write_jsonl(prefs.records, args.out)
        print(f"{len(prefs.records)} records written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
