"""Preference files in the ecosystem's formats become validated records; bad files are refused by file, line, field."""

import json
import random

import pytest

from helpers import preference_io, records
from helpers.records import RecordError

SYSTEM = "You answer support tickets briefly."
QA = [("How do I reset my password?", "Use the reset link on the sign-in page.", "No idea."),
      ("Can I change my plan?", "Yes: Settings, then Plan.", "Plans cannot change."),
      ("Where is my invoice?", "Under Billing, Invoices.", "Ask someone else."),
      ("Is there a mobile app?", "Yes, for iOS and Android.", "What is an app?")] * 5


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def standard(path):
    return write_jsonl(path, [{"prompt": q, "chosen": c, "rejected": r} for q, c, r in QA])


def conversational(path):
    return write_jsonl(path, [{"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}],
                               "chosen": [{"role": "assistant", "content": c}],
                               "rejected": [{"role": "assistant", "content": r}]} for q, c, r in QA])


def implicit(path):
    return write_jsonl(path, [{"chosen": [{"role": "user", "content": q}, {"role": "assistant", "content": c}],
                               "rejected": [{"role": "user", "content": q}, {"role": "assistant", "content": r}]}
                              for q, c, r in QA])


def dataset_folder(path):
    import datasets
    datasets.Dataset.from_list([{"prompt": q, "chosen": c, "rejected": r} for q, c, r in QA]).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("make", [standard, conversational, implicit, dataset_folder])
def test_every_trl_format_becomes_records_with_the_chosen_side_randomized(tmp_path, make):
    prefs = preference_io.read(make(tmp_path / "tickets.jsonl" if make is not dataset_folder else tmp_path / "tickets"))
    assert len(prefs.records) == len(QA) and prefs.records[0]["task"] == "tickets"
    winners = {r["winner"] for r in prefs.records}
    assert winners == {"a", "b"}                                   # chosen always first in the file; not here
    for r, (q, c, rej) in zip(prefs.records, QA):
        assert r["prompt"] == q and r[f"response_{r['winner']}"] == c and r["tags"]["chosen_side"] == r["winner"]
        assert {r["response_a"], r["response_b"]} == {c, rej}
    assert prefs.system_prompt == (SYSTEM if make is conversational else None)
    assert len({r["prompt_id"] for r in prefs.records}) == 4       # a prompt keeps its id across rows
    again = preference_io.read(make(tmp_path / "again.jsonl") if make is not dataset_folder else tmp_path / "tickets",
                               task="tickets")
    assert [r["winner"] for r in again.records] == [r["winner"] for r in prefs.records]   # seeded


def test_the_record_format_reads_as_it_is(tmp_path):
    prefs = preference_io.read(conversational(tmp_path / "t.jsonl"))
    path = records.write_jsonl(prefs.records, tmp_path / "records.jsonl")
    assert preference_io.read(path).records == prefs.records and preference_io.read(path).formats == {"records": len(QA)}


@pytest.mark.parametrize("line, message", [
    ('{"prompt": "q", "chosen": "a"}', "2: field 'rejected' is missing"),
    ('{"prompt": "q", "chosen": 3, "rejected": "b"}', "2: field 'chosen' must be a string or a list"),
    ('{"prompt": "q", "chosen": "a", "rejected": "b"', "2: not valid JSON"),
    ('{"id": "x", "task": "t", "prompt": "q", "response_a": "a", "response_b": "b", "winner": "c", "annotator": "n"}',
     "2: field 'winner' must be one of a, b, tie"),
    ('{"id": "x", "task": "t", "prompt": "q", "response_a": "a", "response_b": "b", "winner": "a", "annotator": "n", '
     '"tags": null}', "2: field 'tags' is null"),
    ('{"prompt": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}, {"role": "user", '
     '"content": "y"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", '
     '"content": "b"}]}', "2: field 'prompt' must hold one user message"),
])
def test_bad_rows_are_refused_by_file_line_and_field(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "fine", "chosen": "a", "rejected": "b"}\n' + line + "\n")
    with pytest.raises(RecordError, match=message.replace("(", r"\(")) as err:
        preference_io.read(path)
    assert str(path) in str(err.value)


def test_a_trl_row_where_records_are_expected_says_how_it_maps(tmp_path):
    path = standard(tmp_path / "trl.jsonl")
    with pytest.raises(RecordError, match="1: field 'id' is missing. This looks like TRL's preference format"):
        records.read_jsonl(path)


def test_the_command_describes_converts_and_never_overwrites_silently(tmp_path, capsys):
    src, out = standard(tmp_path / "trl.jsonl"), tmp_path / "records.jsonl"
    assert preference_io.main([str(src), "--out", str(out)]) == 0
    described = json.loads(capsys.readouterr().out.split("\n" + str(len(QA)) + " records")[0])
    assert described["rows"] == len(QA) and described["prompts"] == 4 and 0 < described["chosen_first_share"] < 1
    before = out.read_text()
    with pytest.raises(SystemExit, match="exists: nothing was written"):
        preference_io.main([str(conversational(tmp_path / "other.jsonl")), "--out", str(out)])
    assert out.read_text() == before
    with pytest.raises(SystemExit, match="nothing was written"):
        preference_io.main([str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "x.jsonl")])
    assert not (tmp_path / "x.jsonl").exists()


def test_the_agreement_command_reads_trl_rows_and_keeps_what_an_earlier_run_left(tmp_path, monkeypatch, capsys):
    from helpers import agreement, config
    monkeypatch.setattr(config, "ROOT", tmp_path)
    src = conversational(tmp_path / "mine.jsonl")
    agreement.main([str(src), "--task", "support", "--profile", "smoke"])
    made = config.paths("smoke", "support").generated / "preferences_aggregated.jsonl"
    first = records.read_jsonl(made)
    assert len(first) == len(QA) and {r["winner"] for r in first} == {"a", "b"}
    agreement.main([str(standard(tmp_path / "other.jsonl")), "--task", "support", "--profile", "smoke"])
    assert "existed: kept as preferences_aggregated.jsonl.before-" in capsys.readouterr().out
    kept = list(made.parent.glob("preferences_aggregated.jsonl.before-*"))
    assert len(kept) == 1 and records.read_jsonl(kept[0]) == first


# ---- the exports teams hold: a spreadsheet, Label Studio, Argilla (fixtures in tests/data/exports/, each in the shape
# that tool writes; the sources are cited in helpers/preference_io.py)
EXPORTS = __import__("pathlib").Path(__file__).parent / "data" / "exports"


def test_a_spreadsheet_saved_as_csv_is_read_in_both_column_sets(tmp_path):
    picks = tmp_path / "picks.csv"
    picks.write_text('\ufeffprompt,response_a,response_b,winner,annotator\n'
                     '"Assess: Ana, 5 yrs","Has SQL, no Spark. Decision: hold","Great!!",A,rec1\n'
                     '"Assess: Ana, 5 yrs","Great!!","Has SQL, no Spark. Decision: hold",model_b,rec2\n'
                     '"Assess: Bo, 2 yrs","Has Go. Decision: hold","Has Go, hold.",tie,\n')
    prefs = preference_io.read(picks)
    assert [r["winner"] for r in prefs.records] == ["a", "b", "tie"]
    assert [r["annotator"] for r in prefs.records] == ["rec1", "rec2", "file"]
    assert prefs.records[0]["prompt"] == "Assess: Ana, 5 yrs" and prefs.records[0]["prompt_id"] == prefs.records[1]["prompt_id"]
    trl = tmp_path / "trl.csv"
    trl.write_text("prompt,chosen,rejected\nq1,good,bad\nq2,fine,worse\n")
    got = preference_io.read(trl).records
    assert [r[f"response_{r['winner']}"] for r in got] == ["good", "fine"]


@pytest.mark.parametrize("header, missing", [("prompt,response_a,response_b", "winner"), ("prompt,chosen", "rejected"),
                                             ("question,answer", "prompt")])
def test_a_csv_without_a_needed_column_names_it_and_nothing_is_written(tmp_path, header, missing):
    path, out = tmp_path / "bad.csv", tmp_path / "out.jsonl"
    path.write_text(header + "\nq,a,b\n")
    with pytest.raises(RecordError, match=f"line 1\\): column '{missing}' is missing"):
        preference_io.read(path)
    with pytest.raises(SystemExit, match="nothing was written"):
        preference_io.main([str(path), "--out", str(out)])
    assert not out.exists()


def test_a_bad_csv_row_is_named_by_line_and_field(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("prompt,response_a,response_b,winner\nq,a,b,a\nq,a,b,maybe\n")
    with pytest.raises(RecordError, match=r"bad.csv \(line 3\): field 'winner' must be a, b or tie"):
        preference_io.read(path)


def test_label_studio_json_export_reads_every_choice_and_counts_the_skips():
    prefs = preference_io.read(EXPORTS / "label_studio_pairwise.json", task="qa")
    assert [(r["response_a"], r["response_b"], r["winner"], r["annotator"]) for r in prefs.records] == \
        [("4", "5", "a", "1"), ("4", "5", "b", "2")]                 # left = text1, the first of the pair
    assert prefs.records[0]["prompt"] == "What is 2+2?" and prefs.formats == {"label studio": 2}
    assert prefs.skipped == {"skipped in Label Studio": 1}             # was_cancelled; the unannotated task has none


def test_label_studio_json_min_export_is_read_the_same_way():
    prefs = preference_io.read(EXPORTS / "label_studio_json_min.json", task="qa")
    assert [(r["winner"], r["annotator"]) for r in prefs.records] == [("b", "2"), ("a", "1")]


@pytest.mark.parametrize("name", ["argilla_v2_records.json", "argilla_v2_flat.json", "argilla_v1_rows.json"])
def test_argilla_exports_give_one_record_per_submitted_ranking(name):
    prefs = preference_io.read(EXPORTS / name, task="qa")
    got = [(r["prompt"], r["response_a"], r["response_b"], r["winner"]) for r in prefs.records]
    second = "b" if name != "argilla_v1_rows.json" else "tie"         # 1.x keeps ranks: equal ranks are a tie
    assert got == [("What is 2+2?", "4", "5", "a"), ("What is 2+2?", "4", "5", second)]
    assert prefs.records[0]["annotator"] == "3f2b6c1e-0000-4000-8000-000000000001"
    assert prefs.skipped.get("no answer") == 1                         # rec-2 has a suggestion but no response
    if name != "argilla_v1_rows.json":                                 # the label question is counted, not read twice
        assert any(k.startswith("answers to another question (preference)") for k in prefs.skipped)


@pytest.mark.parametrize("name, edit, message", [
    ("label_studio_pairwise.json", lambda rows: rows[0]["annotations"][0]["result"][0]["value"].update(selected="up"),
     r"row 1\), annotation 1, field 'result.value': a pairwise result must select 'left' or 'right'"),
    ("label_studio_pairwise.json", lambda rows: rows[0]["data"].pop("prompt"), r"row 1\): field 'data.prompt' is missing"),
    ("argilla_v2_records.json", lambda rows: rows[0]["responses"]["ranking"][0].update(value=["response9"]),
     r"row 1\), field 'ranking', answer 1: the answer names 'response9'"),
    ("argilla_v2_flat.json", lambda rows: rows[0].pop("response2"), r"row 1\): no pair of responses among the fields"),
])
def test_a_malformed_export_stops_at_its_row_and_field_and_writes_nothing(tmp_path, name, edit, message):
    rows = json.loads((EXPORTS / name).read_text())
    edit(rows)
    path, out = tmp_path / name, tmp_path / "out.jsonl"
    path.write_text(json.dumps(rows))
    with pytest.raises(RecordError, match=message):
        preference_io.read(path)
    with pytest.raises(SystemExit, match="nothing was written"):
        preference_io.main([str(path), "--out", str(out)])
    assert not out.exists()


def hh_rlhf(path):
    """Rows as Anthropic's HH-RLHF ships them: whole dialogues in `chosen` and `rejected`, the prompt implicit in both,
    gzipped; one of them with an empty last answer (the harmless-base test split has 4 of 2,312)."""
    import gzip
    rows = [{"chosen": f"\n\nHuman: {q}\n\nAssistant: {c}", "rejected": f"\n\nHuman: {q}\n\nAssistant: {r}"} for q, c, r in QA]
    rows.append({"chosen": "\n\nHuman: Tell me more.\n\nAssistant: ", "rejected": "\n\nHuman: Tell me more.\n\nAssistant: No."})
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return path


def test_hh_rlhf_rows_gzipped_are_read_and_a_row_that_compares_nothing_is_counted(tmp_path):
    prefs = preference_io.read(hh_rlhf(tmp_path / "hh-rlhf-harmless-base-test.jsonl.gz"))
    assert len(prefs.records) == len(QA) and prefs.skipped == {"an answer is empty": 1}
    r = prefs.records[0]
    assert r["prompt"].rstrip().endswith("Assistant:") and "Human: How do I reset my password?" in r["prompt"]
    assert {r["response_a"].strip(), r["response_b"].strip()} == {QA[0][1], QA[0][2]}
    from helpers import config
    assert config.data_task_name(tmp_path / "hh-rlhf-harmless-base-test.jsonl.gz") == "data-hh_rlhf_harmless_base_test"


def test_comparisons_longer_than_the_cap_are_counted_with_the_chat_template():
    class Tok:   # a word is a token; the chat template adds two
        def apply_chat_template(self, messages, tokenize=False):
            return " ".join(["<s>", *(m["content"] for m in messages), "</s>"])

        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [t.split() for t in texts]}
    recs = [{"prompt": "one two", "response_a": "a", "response_b": "b c d e"}, {"prompt": "one", "response_a": "a", "response_b": "b"}]
    assert preference_io.longer_than(recs, Tok(), max_tokens=6) == 1       # 2 + 2 + 4 = 8 > 6; the other is 4
    assert preference_io.longer_than(recs, Tok(), max_tokens=8) == 0


def test_a_dialogue_whose_answers_begin_alike_is_split_at_its_last_assistant_turn():
    """TRL's extract_prompt on strings takes the common character prefix: "I'm sorry" and "I'd say" would become
    "'m sorry" and "'d say" under a prompt ending "Assistant: I" (445 of HH-RLHF harmless-base test's 2,312 rows)."""
    q = "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Can you help me?\n\nAssistant:"
    rows = [{"chosen": q + " I'm sorry, I can't.", "rejected": q + " I'd say yes."},
            {"chosen": q + " Sure.", "rejected": q + " No."}]
    for i, row in enumerate(rows):
        rec, _ = preference_io.from_trl(row, f"row {i}", i, "data-t", random.Random(0))
        assert rec["prompt"] == q and "Assistant: Hello." in rec["prompt"]
        assert {rec["response_a"], rec["response_b"]} == {row["chosen"][len(q):], row["rejected"][len(q):]}
