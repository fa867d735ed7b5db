"""The preference record: one JSON object a line, what annotation produces and training reads.

    {"id": "...", "task": "hiring", "kind": "assessment", "prompt_id": "...", "prompt": "...",
     "response_a": "...", "response_b": "...", "winner": "a", "annotator": "sim_careful",
     "rationale": "...", "scores": {"accuracy": 3, "tone": 2, "policy": 3},
     "is_gold": false, "tags": {"role": "data_engineer", "difficulty": "medium"}, "created_at": "..."}

`winner` is `a`, `b` or `tie`; `scores` are the annotator's 1-3 rubric scores of the preferred response
(empty for a tie). Ties count for agreement and are left out of pairwise training. A malformed record is
rejected with the file, the line and the field, and nothing is written. docs/data_formats.md describes every field.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import random
from datetime import datetime, timezone
from pathlib import Path

WINNERS = ("a", "b", "tie")
REQUIRED = {"id": str, "task": str, "prompt": str, "response_a": str, "response_b": str,
            "winner": str, "annotator": str}
OPTIONAL = {"kind": str, "prompt_id": str, "rationale": str, "scores": dict, "is_gold": bool,
            "tags": dict, "created_at": str}


class RecordError(ValueError):
    """A record that does not follow the format; the message names file, line and field."""


def _other_format(record: dict) -> str:
    """A hint when a record is a row of another known format."""
    if {"chosen", "rejected"} & set(record):
        return (". This looks like TRL's preference format (prompt, chosen, rejected): `python -m helpers.preference_io "
                "FILE --out records.jsonl` converts it (prompt -> prompt; chosen and rejected -> response_a and response_b "
                "in a random order; winner = the chosen side)")
    return ""


def validate(record: object, where: str = "record") -> dict:
    """Check one record and return it; raise RecordError naming `where` and the field."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for key, typ in REQUIRED.items():
        if key not in record:
            raise RecordError(f"{where}: field '{key}' is missing" + _other_format(record))
        if not isinstance(record[key], typ):
            raise RecordError(f"{where}: field '{key}' must be a {typ.__name__}, got {type(record[key]).__name__}")
    for key, typ in OPTIONAL.items():
        if key in record and record[key] is None:
            raise RecordError(f"{where}: field '{key}' is null: leave an optional field out, or give a {typ.__name__}")
        if key in record and not isinstance(record[key], typ):
            raise RecordError(f"{where}: field '{key}' must be a {typ.__name__}, got {type(record[key]).__name__}")
    if record["winner"] not in WINNERS:
        raise RecordError(f"{where}: field 'winner' must be one of {', '.join(WINNERS)}, got {record['winner']!r}")
    for key in ("id", "prompt", "response_a", "response_b", "annotator"):
        if not record[key].strip():
            raise RecordError(f"{where}: field '{key}' is empty")
    for dim, value in (record.get("scores") or {}).items():
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 3:
            raise RecordError(f"{where}: field 'scores.{dim}' must be an integer from 1 to 3, got {value!r}")
    return record


def json_lines(path: str | Path) -> list[tuple[str, object]]:
    """("file:line", parsed object) for every non-empty line of a JSONL file (gzipped if its name ends .gz, as
    HH-RLHF's files are); a bad line raises RecordError."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such preference file")
    out = []
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append((f"{path}:{lineno}", json.loads(line)))
            except json.JSONDecodeError as err:
                raise RecordError(f"{path}:{lineno}: not valid JSON ({err.msg} at column {err.colno})") from None
    return out


def read_jsonl(path: str | Path) -> list[dict]:
    """Read and validate every record of a JSONL file; the first bad line raises RecordError."""
    return [validate(obj, where) for where, obj in json_lines(path)]


def write_jsonl(records: list[dict], path: str | Path) -> Path:
    """Validate all records, then write them atomically (a temporary file renamed into place)."""
    path = Path(path)
    for i, r in enumerate(records, 1):
        validate(r, f"{path} (record {i})")
    return save_rows(records, path)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def make_pairs(responses: dict[str, list[str]], pairs_per_prompt: int, seed: int) -> list[dict]:
    """Draw comparisons among each prompt's K responses; left/right order randomized (and recorded)."""
    rng = random.Random(seed)
    pairs = []
    for prompt_id in sorted(responses):
        texts = responses[prompt_id]
        combos = [(i, j) for i, j in itertools.combinations(range(len(texts)), 2) if texts[i].strip() != texts[j].strip()]
        rng.shuffle(combos)
        for i, j in combos[:pairs_per_prompt]:
            if rng.random() < 0.5:
                i, j = j, i
            pairs.append({"pair_id": f"{prompt_id}:{i}v{j}", "prompt_id": prompt_id,
                          "response_a": texts[i], "response_b": texts[j], "sample_a": i, "sample_b": j})
    return pairs


def to_trl(records: list[dict], system_prompt: str | None = None) -> list[dict]:
    """Preference records to TRL's conversational prompt/chosen/rejected rows; ties are dropped."""
    rows = []
    for r in records:
        if r["winner"] == "tie":
            continue
        chosen, rejected = (r["response_a"], r["response_b"]) if r["winner"] == "a" else (r["response_b"], r["response_a"])
        prompt = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + \
                 [{"role": "user", "content": r["prompt"]}]
        rows.append({"prompt": prompt,
                     "chosen": [{"role": "assistant", "content": chosen}],
                     "rejected": [{"role": "assistant", "content": rejected}]})
    return rows


def save_rows(rows: list[dict], path: str | Path) -> Path:
    """Any rows as JSONL, written atomically (for responses and other non-preference files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)
    return path


def load_rows(path: str | Path) -> list[dict]:
    path = Path(path)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
