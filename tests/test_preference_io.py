"""Preference files in the ecosystem's formats become validated records; bad files are refused by file, line, field."""

import json

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
