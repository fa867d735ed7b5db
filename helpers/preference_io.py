"""Preference data in the formats the ecosystem uses, read into the project's records (helpers/records.py).

Read (`read(source)`), detected row by row:
- **the record format** of helpers/records.py (`id`, `task`, `prompt`, `response_a`, `response_b`, `winner`,
  `annotator`, ...), validated as it is;
- **TRL's preference rows**, standard (`prompt`, `chosen`, `rejected` as strings) or conversational (lists of
  `{"role", "content"}` messages), with an explicit `prompt` or with the prompt implicit in both completions
  (TRL's own `maybe_extract_prompt` takes it out; a "Human: ... Assistant: ..." dialogue is split at its last
  assistant turn, as TRL's hh-rlhf script does, not inside answers that begin alike). A system message in the
  prompt is kept as the row's system prompt; an optional `annotator` column is kept, else the annotator is `file`;
- **a CSV file** (a spreadsheet saved as CSV) with the columns `prompt, chosen, rejected` or
  `prompt, response_a, response_b, winner` (winner a, b or tie; also A/B, model_a/model_b and "tie (bothbad)" as
  LMSYS Arena writes them), and an optional `annotator` column;
- **Label Studio's JSON export** of a pairwise project (the `<Pairwise>` tag; label-studio 1.x and label-studio-sdk
  2.1, web/libs/editor/src/tags/control/Pairwise.js): one record per annotation, `value.selected` "left" being the
  first text of the pair; skipped (`was_cancelled`) and empty annotations are counted, not read. Its JSON_MIN export
  (one flat row per annotation, `"pw": [{"selected": "left"}]`) is read too. The prompt is the task's `prompt`
  field; the pair is `text1`/`text2`, `pairText1`/`pairText2` (the stock template), `answer1`/`answer2` (the "Human
  preference collection for RLHF" template), `response1`/`response2` or `response_a`/`response_b`;
- **Argilla's export** of a preference dataset with a `prompt` field and two response fields, judged by a
  RankingQuestion (the first option ranked wins; equal ranks are a tie) or a LabelQuestion whose labels are the two
  response fields' names (or "tie"): argilla 2.x's `records.to_json` / `Dataset.to_disk` (records.json) and the
  flat `records.to_list(flatten=True)` / `to_datasets()` rows (`<question>.responses`, `.users`, `.status`), and
  argilla 1.x's FeedbackDataset rows (`format_as("datasets")`, `push_to_huggingface`). Only submitted responses are
  read (argilla 2.x's nested export carries no response status: all are read);
- from a JSONL file, a JSON file holding a list of rows, a CSV file, a Hugging Face dataset saved with
  `save_to_disk` (a folder), or a Hub dataset id (where the Hub is reachable).

Left and right of TRL rows are randomized on the way in (seeded) and recorded (`tags.chosen_side`), so a file whose
chosen answer always comes first does not become a file where "a" always wins; the annotation tools' exports keep the
sides the annotator saw. Every row is checked before anything is
returned; an error names the file, the line (or row) and the field, and says how a row of another format maps.

    python -m helpers.preference_io SOURCE [--out FILE] [--seed N] [--force]

converts SOURCE to the record format, describes it (pairs, prompts, annotators, lengths, ties, chosen side) and
refuses to overwrite an existing FILE unless `--force`.
"""

from __future__ import annotations

import csv
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
    skipped: dict[str, int] = field(default_factory=dict)   # why -> annotations not read (skipped in the tool, no choice)

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
        if path.suffix.lower() == ".csv":
            return _csv_rows(path)
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


class _NotAComparison(Exception):
    """A well-formed row that compares nothing (an empty answer, the same answer twice): counted, not read."""


ASSISTANT_TURN = "\n\nAssistant:"   # HH-RLHF's dialogue form: "\n\nHuman: ...\n\nAssistant: ..."


def _at_last_turn(row: dict) -> dict:
    """A string dialogue's prompt ends at its last assistant turn. TRL's extract_prompt takes the longest common
    *character* prefix of the two strings, so answers that begin alike ("I'm sorry" and "I'd say") lose their shared
    start to the prompt (HH-RLHF harmless-base test: 445 of 2,312 rows); TRL's own hh-rlhf script
    (examples/datasets/hh-rlhf-helpful-base.py) backs the prefix off to the last "\n\nAssistant: " as here."""
    prompt = row["prompt"]
    if not isinstance(prompt, str) or ASSISTANT_TURN not in prompt or prompt.rstrip().endswith(ASSISTANT_TURN.strip()):
        return row
    cut = prompt.rfind(ASSISTANT_TURN) + len(ASSISTANT_TURN)
    return {"prompt": prompt[:cut], "chosen": prompt[cut:] + row["chosen"], "rejected": prompt[cut:] + row["rejected"]}


def from_trl(row: dict, where: str, number: int, task: str, rng: random.Random) -> tuple[dict, str | None]:
    """One TRL preference row as a record (left/right drawn from `rng`), and its system prompt if it has one."""
    for key in ("chosen", "rejected"):
        if key not in row:
            raise RecordError(f"{where}: field '{key}' is missing (TRL preference rows need chosen and rejected)")
    if "prompt" not in row or isinstance(row["prompt"], list) != isinstance(row["chosen"], list):
        from trl.data_utils import maybe_extract_prompt  # TRL's own rule for a prompt implicit in both completions
        row = {**row, **_at_last_turn(maybe_extract_prompt({"chosen": row["chosen"], "rejected": row["rejected"]}))}
    prompt, system = _text(row["prompt"], where, "prompt", "user")
    chosen, _ = _text(row["chosen"], where, "chosen", "assistant")
    rejected, _ = _text(row["rejected"], where, "rejected", "assistant")
    if not chosen.strip() or not rejected.strip():   # real files have them (HH-RLHF: 4 of 2,312 test rows)
        raise _NotAComparison("an answer is empty")
    if chosen.strip() == rejected.strip():
        raise _NotAComparison("both answers the same")
    left = rng.random() < 0.5
    prompt_id = f"{task}-" + hashlib.sha1(f"{system or ''}\n{prompt}".encode()).hexdigest()[:10]
    annotator = str(row.get("annotator") or "file")
    record = {"id": f"{prompt_id}:{number}@{annotator}", "task": task, "prompt_id": prompt_id, "prompt": prompt,
              "response_a": chosen if left else rejected, "response_b": rejected if left else chosen,
              "winner": "a" if left else "b", "annotator": annotator,
              "tags": {"chosen_side": "a" if left else "b", "source_row": where}}
    return records.validate(record, where), system


CSV_COLUMNS = (("prompt", "chosen", "rejected"), ("prompt", "response_a", "response_b", "winner"))
WINNER_WORDS = {"a": "a", "b": "b", "tie": "tie", "model_a": "a", "model_b": "b", "tie (bothbad)": "tie"}
PROMPT_KEYS = ("prompt",)
PAIR_KEYS = (("text1", "text2"), ("pairText1", "pairText2"), ("answer1", "answer2"), ("response1", "response2"),
             ("response_a", "response_b"))


def _csv_rows(path: Path) -> list[tuple[str, object]]:
    """(where, row) for every row of a CSV file with one of CSV_COLUMNS' headers; a missing column is named."""
    with path.open(newline="", encoding="utf-8-sig") as f:   # utf-8-sig: a spreadsheet's byte-order mark
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or []]
        if not any(set(need) <= set(columns) for need in CSV_COLUMNS):
            need = CSV_COLUMNS[1] if {"response_a", "response_b", "winner"} & set(columns) else CSV_COLUMNS[0]
            missing = [c for c in need if c not in columns]
            raise RecordError(f"{path} (line 1): column '{missing[0]}' is missing: a preference CSV has the columns "
                              f"{', '.join(CSV_COLUMNS[0])} or {', '.join(CSV_COLUMNS[1])} (its header: "
                              f"{', '.join(columns) or 'none'})")
        reader.fieldnames = columns
        return [(f"{path} (line {reader.line_num})", {**{k: v for k, v in row.items() if k is not None}, "_csv": True})
                for row in reader]


def _pair_record(task: str, where: str, prompt, left, right, winner, annotator, fmt: str, n: int) -> dict:
    """One comparison an annotator made, as a record; the sides as the annotator saw them."""
    for name, value in (("prompt", prompt), ("the first response", left), ("the second response", right)):
        if not isinstance(value, str):
            raise RecordError(f"{where}: {name} must be text, got {type(value).__name__}")
    prompt_id = f"{task}-" + hashlib.sha1(prompt.encode()).hexdigest()[:10]
    annotator = str(annotator if annotator not in (None, "") else "file")
    return records.validate({"id": f"{prompt_id}:{n}@{annotator}", "task": task, "prompt_id": prompt_id, "prompt": prompt,
                             "response_a": left, "response_b": right, "winner": winner, "annotator": annotator,
                             "tags": {"source_row": where, "source_format": fmt}}, where)


def from_table(row: dict, where: str, number: int, task: str) -> dict:
    """A CSV row prompt, response_a, response_b, winner (and annotator)."""
    word = str(row.get("winner") or "").strip()
    if word.lower() not in WINNER_WORDS:
        raise RecordError(f"{where}: field 'winner' must be a, b or tie (or model_a, model_b), got {word!r}")
    return _pair_record(task, where, row.get("prompt"), row.get("response_a"), row.get("response_b"),
                        WINNER_WORDS[word.lower()], row.get("annotator"), "csv", number)


def _prompt_and_pair(data: dict, where: str, field_name: str) -> tuple[str, str, str]:
    """The prompt and the names of the two response fields of an annotation tool's task."""
    prompt_key = next((k for k in PROMPT_KEYS if k in data), None)
    if prompt_key is None:
        raise RecordError(f"{where}: field '{field_name}prompt' is missing (the fields are: {', '.join(map(str, data))})")
    pair = next((p for p in PAIR_KEYS if p[0] in data and p[1] in data), None)
    if pair is None:
        raise RecordError(f"{where}: no pair of responses among the fields {', '.join(map(str, data))} (read: "
                          + ", ".join("/".join(p) for p in PAIR_KEYS) + ")")
    return data[prompt_key], pair[0], pair[1]


def _annotator_of(value) -> str:
    """Label Studio's completed_by: a user id, or (older servers) {id, email, ...}."""
    if isinstance(value, dict):
        return str(value.get("email") or value.get("id") or "")
    return str(value) if value is not None else ""


SIDES = {"left": "a", "right": "b"}


def _selected(value, where: str):
    """The side a Label Studio pairwise result chose (a, b), from {"selected": ...} or a JSON_MIN list of them."""
    if isinstance(value, list):
        value = value[0] if value else {}
    side = value.get("selected") if isinstance(value, dict) else None
    if side not in SIDES:
        raise RecordError(f"{where}: a pairwise result must select 'left' or 'right', got {side!r}")
    return SIDES[side]


def from_label_studio(rows: list[tuple[str, dict]], task: str, skipped: dict) -> list[dict]:
    """Label Studio's JSON export (tasks with annotations) or JSON_MIN export (one flat row per annotation)."""
    out = []
    for where, row in rows:
        if not isinstance(row, dict):
            raise RecordError(f"{where}: expected a JSON object, got {type(row).__name__}")
        if "annotations" in row:
            if not isinstance(row.get("data"), dict) or not isinstance(row["annotations"], list):
                raise RecordError(f"{where}: a Label Studio task needs 'data' (an object) and 'annotations' (a list)")
            prompt, left, right = _prompt_and_pair(row["data"], where, "data.")
            for i, ann in enumerate(row["annotations"]):
                at = f"{where}, annotation {i + 1}"
                if ann.get("was_cancelled"):
                    skipped["skipped in Label Studio"] = skipped.get("skipped in Label Studio", 0) + 1
                    continue
                results = [r for r in ann.get("result") or [] if r.get("type") == "pairwise"]
                if not results:
                    skipped["no pairwise choice"] = skipped.get("no pairwise choice", 0) + 1
                    continue
                winner = _selected(results[0].get("value"), f"{at}, field 'result.value'")
                out.append(_pair_record(task, at, prompt, row["data"][left], row["data"][right], winner,
                                        _annotator_of(ann.get("completed_by")), "label studio", len(out) + 1))
        else:   # JSON_MIN: the task's fields, then the pairwise control's name -> [{"selected": ...}]
            prompt, left, right = _prompt_and_pair(row, where, "")
            control = next((k for k, v in row.items() if _is_pairwise_min(v)), None)
            if control is None:
                skipped["no pairwise choice"] = skipped.get("no pairwise choice", 0) + 1
                continue
            out.append(_pair_record(task, where, prompt, row[left], row[right],
                                    _selected(row[control], f"{where}, field '{control}'"),
                                    _annotator_of(row.get("annotator")), "label studio (json_min)", len(out) + 1))
    return out


def _is_pairwise_min(value) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and "selected" in value[0]


def _argilla_winner(value, left: str, right: str, where: str) -> str:
    """a, b or tie from a ranking (option names in rank order; argilla 1.x: with ranks) or a label."""
    if isinstance(value, dict) and "value" in value and "rank" in value:   # argilla 1.x, as datasets stores it
        value = [{"value": v, "rank": r} for v, r in zip(value["value"], value["rank"])]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):   # [{"value", "rank"}]
        ranks = {v.get("value"): v.get("rank") for v in value}
        if left in ranks and right in ranks and ranks[left] is not None and ranks[left] == ranks[right]:
            return "tie"
        value = [v.get("value") for v in sorted(value, key=lambda v: (v.get("rank") is None, v.get("rank") or 0))]
    if isinstance(value, list) and value:
        first = value[0]
    elif isinstance(value, str):
        first = "tie" if value.strip().lower() == "tie" else value
    else:
        raise RecordError(f"{where}: expected a ranking (a list of the response fields) or a label, got {value!r}")
    if first == "tie":
        return "tie"
    if first not in (left, right):
        raise RecordError(f"{where}: the answer names {first!r}, which is neither response field ({left}, {right})")
    return "a" if first == left else "b"


def _argilla_question(row: dict) -> str | None:
    """The first question a row holds answers to, in any of the three export shapes."""
    if isinstance(row.get("responses"), dict):
        return next(iter(row["responses"]), None)
    flat = next((k[: -len(".responses")] for k in row if k.endswith(".responses")), None)
    if flat:
        return flat
    return next((k for k, v in row.items() if isinstance(v, list) and v and isinstance(v[0], dict)
                 and {"user_id", "value"} <= set(v[0])), None)


def from_argilla(rows: list[tuple[str, dict]], task: str, skipped: dict) -> list[dict]:
    """Argilla 2.x's nested or flat records, or argilla 1.x's FeedbackDataset rows: one record per submitted answer to
    the file's preference question (the first question answered; answers to other questions are counted)."""
    question = next((q for _, row in rows if isinstance(row, dict) for q in [_argilla_question(row)] if q), None)
    out = []
    for where, row in rows:
        if not isinstance(row, dict):
            raise RecordError(f"{where}: expected a JSON object, got {type(row).__name__}")
        if isinstance(row.get("fields"), dict):                                  # 2.x nested
            fields, answers = row["fields"], [(r.get("value"), r.get("user_id"), "submitted")
                                              for r in (row.get("responses") or {}).get(question) or []]
            other = [q for q in row.get("responses") or {} if q != question]
        elif f"{question}.responses" in row:                                      # 2.x flat
            fields = row
            values = row.get(f"{question}.responses") or []
            users = row.get(f"{question}.responses.users") or [None] * len(values)
            status = row.get(f"{question}.responses.status") or ["submitted"] * len(values)
            answers = list(zip(values, users, status))
            other = [k[: -len(".responses")] for k in row if k.endswith(".responses") and k != f"{question}.responses" and row[k]]
        else:                                                                     # 1.x
            fields = row
            answers = [(r.get("value"), r.get("user_id"), r.get("status")) for r in row.get(question) or []]
            other = []
        prompt, left, right = _prompt_and_pair(fields, where, "fields." if "fields" in row else "")
        for q in other:
            skipped[f"answers to another question ({q})"] = skipped.get(f"answers to another question ({q})", 0) + 1
        if not answers:
            skipped["no answer"] = skipped.get("no answer", 0) + 1
        for i, (value, user, status) in enumerate(answers):
            if status != "submitted":
                skipped[f"answer {status}"] = skipped.get(f"answer {status}", 0) + 1
                continue
            at = f"{where}, field '{question}', answer {i + 1}"
            out.append(_pair_record(task, at, prompt, fields[left], fields[right],
                                    _argilla_winner(value, left, right, at), user, "argilla", len(out) + 1))
    return out


def export_format(rows: list[tuple[str, object]]) -> str | None:
    """Which annotation tool's export the rows are ("label studio", "argilla"), from the first row; None otherwise."""
    first = rows[0][1] if rows else None
    if not isinstance(first, dict):
        return None
    if ("annotations" in first and "data" in first) or any(_is_pairwise_min(v) for v in first.values()):
        return "label studio"
    if ("fields" in first and "responses" in first) or any(k.endswith(".responses") for k in first) or (
            not {"chosen", "rejected", "response_a"} & set(first) and _argilla_question(first)):
        return "argilla"
    return None


def read(source: str | Path, task: str | None = None, seed: int = 0) -> Preferences:
    """Every row of `source` as a validated record; the first bad row raises RecordError naming it and its field."""
    rows = _rows(source)
    if not rows:
        raise RecordError(f"{source}: no rows")
    task = task or Path(str(source)).stem.replace(".", "_")
    rng = random.Random(seed)
    out, formats, systems, skipped = [], {}, {}, {}
    tool = export_format(rows)
    if tool is not None:
        out = (from_label_studio if tool == "label studio" else from_argilla)(rows, task, skipped)
        if not out:
            raise RecordError(f"{source}: a {tool} export with no comparison to read ({skipped or 'no rows'})")
        formats[tool] = len(out)
        rows = []
    for number, (where, row) in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise RecordError(f"{where}: expected a JSON object, got {type(row).__name__}")
        is_csv = row.pop("_csv", False)
        if is_csv and "chosen" not in row:
            record, kind = from_table(row, where, number, task), "csv (prompt, response_a, response_b, winner)"
        elif "chosen" in row or "rejected" in row:
            try:
                record, system = from_trl(row, where, number, task, rng)
            except _NotAComparison as why:
                skipped[str(why)] = skipped.get(str(why), 0) + 1
                continue
            kind = ("csv (prompt, chosen, rejected)" if is_csv else
                    "trl conversational" if isinstance(row.get("chosen"), list) else "trl standard")
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
    return Preferences(out, str(source), formats, systems, skipped)


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
            "system_prompt": prefs.system_prompt, "not_read": prefs.skipped}


def longer_than(recs: list[dict], tokenizer, max_tokens: int, system_prompt: str | None = None) -> int:
    """How many comparisons have an answer whose whole conversation (chat template, prompt and answer) is longer
    than `max_tokens`: TRL's RewardTrainer leaves such pairs out, its DPOTrainer cuts their answers' ends."""
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    texts = [tokenizer.apply_chat_template(system + [{"role": "user", "content": r["prompt"]},
                                                     {"role": "assistant", "content": r[side]}], tokenize=False)
             for r in recs for side in ("response_a", "response_b")]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    return sum(max(a, b) > max_tokens for a, b in zip(lengths[0::2], lengths[1::2]))


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a JSONL, JSON or CSV file (TRL rows, records, a Label Studio or Argilla export), "
                                       "a save_to_disk folder, or a Hub dataset id")
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
