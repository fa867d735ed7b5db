"""The annotation store never loses a label: concurrent writers, a killed writer, bad imports, undo, resume."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from helpers import config, records, store, widget


def _items(n, prefix="p"):
    return [{"item_id": f"{prefix}{i}", "task": "hiring", "kind": "assessment", "prompt_id": f"q{i}",
             "prompt": f"Prompt {i}", "response_a": f"A{i}", "response_b": f"B{i}", "tags": {"pair_id": f"{prefix}{i}"}}
            for i in range(n)]


@pytest.fixture
def db(tmp_path):
    s = store.Store(tmp_path / "annotations.sqlite")
    s.add_items(_items(300))
    yield s
    s.close()


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from helpers.store import Store
    s = Store({path!r})
    for i in range({n}):
        s.add_label({who!r}, f"p{{i % 300}}", "ab"[i % 2], "a", position=i, source="simulated")
        print(i, flush=True)
""")


def _writer(path, who, n):
    code = WRITER.format(root=str(config.ROOT), path=str(path), who=who, n=n)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_four_concurrent_writers_lose_nothing(db):
    procs = [_writer(db.path, f"ann{k}", 250) for k in range(4)]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0
    assert db.count("labels") == 1000
    for k in range(4):
        assert len(db.labels(f"ann{k}")) == 250
    assert db.integrity_ok()


def test_killed_writer_leaves_every_committed_label(db):
    proc = _writer(db.path, "doomed", 100_000)
    committed = -1
    deadline = time.time() + 60
    while committed < 200 and time.time() < deadline:
        committed = int(proc.stdout.readline().split()[0])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    fresh = store.Store(db.path)
    assert fresh.integrity_ok()
    rows = fresh.count("labels")
    positions = sorted(l["position"] for l in fresh.labels("doomed"))
    assert positions[-1] >= committed   # every label it reported committed is there
    # and what is there is whole: one row per click up to the last, none half-written; past 300 clicks a writer answers
    # an item again, and the newer answer is the one that counts, so the labels are the last (at most) 300 positions
    assert rows == positions[-1] + 1
    assert positions == list(range(max(0, positions[-1] - 299), positions[-1] + 1))
    fresh.close()


def test_malformed_import_names_the_place_and_stores_nothing(db, tmp_path):
    good = {"id": "x@ann", "task": "hiring", "prompt": "P", "response_a": "A", "response_b": "B",
            "winner": "a", "annotator": "ann", "tags": {"pair_id": "imported1"}}
    bad = {**good, "id": "y@ann", "winner": "left"}
    path = tmp_path / "incoming.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    before = (db.count("items"), db.count("labels"))
    with pytest.raises(records.RecordError, match=r"incoming.jsonl:2: field 'winner'"):
        db.import_jsonl(path)
    assert (db.count("items"), db.count("labels")) == before
    path.write_text(json.dumps(good) + "\n")
    assert db.import_jsonl(path) == 1
    assert db.labels("ann")[0]["item_id"] == "imported1"


def test_export_round_trips_through_import(db, tmp_path):
    db.add_label("ann", "p1", "b", "b", position=0, rationale="B cites evidence", scores={"accuracy": 3})
    db.add_label("ann", "p2", "both_bad", "a", position=1)
    db.add_label("ann", "p3", "skip", "a", position=2)
    exported = db.export_records()
    assert [r["winner"] for r in exported] == ["b", "tie"]          # skip dropped, both bad -> tie
    assert exported[1]["tags"]["verdict"] == "both_bad"
    path = records.write_jsonl(exported, tmp_path / "out.jsonl")
    other = store.Store(tmp_path / "other.sqlite")
    assert other.import_jsonl(path) == 2
    assert [(r["winner"], r["annotator"]) for r in other.export_records()] == [("b", "ann"), ("tie", "ann")]


def test_undo_keeps_an_audit_trail_and_latest_label_counts(db):
    db.add_label("ann", "p1", "a", position=0)
    db.add_label("ann", "p1", "b", position=0)       # changed their mind via Back
    assert [l["winner"] for l in db.labels("ann")] == ["b"]
    db.undo_last("ann")
    assert [l["winner"] for l in db.labels("ann")] == ["a"]
    assert db.count("labels") == 2                     # nothing deleted


def test_session_resumes_randomizes_sides_and_never_repeats_unplanned(db):
    queue = widget.build_queue([f"p{i}" for i in range(30)], [], n_repeats=3, seed=0, annotator="rec")
    assert sum(r for _, r in queue) == 3 and len(queue) == 33
    db.set_queue("rec", queue)
    assert not db.set_queue("rec", queue[:5])          # a queue is scheduled once
    s = widget.Session(db, "rec")
    seen, sides = [], set()
    for _ in range(10):
        cur = s.current()
        seen.append((cur["item_id"], cur["repeat"]))
        sides.add(cur["left_side"])
        s.submit("left")
    resumed = widget.Session(db, "rec")               # a new kernel picks up where the last stopped
    assert resumed.pointer == 10 and resumed.done == 10
    while (cur := resumed.current()) is not None:
        seen.append((cur["item_id"], cur["repeat"]))
        resumed.submit("tie")
    assert len(seen) == len(set(seen)) == 33          # every (item, repeat) once
    assert sides == {"a", "b"}
    # "left" was recorded as whichever canonical side was on the left
    for lab in db.labels("rec")[:10]:
        assert lab["winner"] == lab["left_side"]


def test_widget_escapes_html_from_data(db):
    db.add_items([{"item_id": "evil", "task": "hiring", "prompt": "<script>alert('x')</script> Profile",
                   "response_a": "<b>bold</b>", "response_b": "<img src=x onerror=alert(1)>", "tags": {}}])
    db.set_queue("eve", [("evil", 0)])
    app = widget.AnnotationApp(db, annotator="eve")
    shown = app.prompt.value + app.left.value + app.right.value
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    assert "<img" not in shown and "&lt;img" in shown and "<b>bold</b>" not in shown


def test_widget_buttons_write_to_the_store(db):
    db.set_queue("amy", [("p1", 0), ("p2", 0), ("p3", 0)])
    app = widget.AnnotationApp(db, queue_for=None)
    app.name.value = "amy"
    app.start.click()
    app.rationale.value = "A is grounded"
    app.scores["accuracy"].value = "3"
    app.buttons["left"].click()
    app.buttons["both_bad"].click()
    app.undo_button.click()
    app.buttons["skip"].click()
    labs = db.labels("amy", include_skips=True)
    assert [l["winner"] for l in labs][0] == labs[0]["left_side"]
    assert labs[0]["rationale"] == "A is grounded" and labs[0]["scores"] == {"accuracy": 3}
    assert [l["winner"] for l in labs][1:] == ["skip"]
    assert "2 of 3" in app.header.value


def test_back_then_answer_moves_on_to_the_next_unanswered_item(db):
    db.set_queue("bob", [(f"p{i}", 0) for i in range(5)])
    s = widget.Session(db, "bob")
    for _ in range(3):
        s.submit("left")
    s.back()
    s.back()                                   # back on item 2 of 5
    assert s.current()["position"] == 1
    s.submit("tie")                            # changes that answer ...
    assert s.current()["position"] == 3       # ... and goes on to the first unanswered one
    latest = {l["item_id"]: l["winner"] for l in db.labels("bob")}
    assert latest["p1"] == "tie" and len(latest) == 3


def test_a_store_of_other_answers_is_moved_aside_not_relabelled(tmp_path):
    """00 run again writes new answers under the same comparison ids: the old labels must not count for them."""
    from helpers import annotation
    path = tmp_path / "annotations.sqlite"
    old = annotation.open_store(path, _items(5), say=lambda m: None)
    old.add_label("ann", "p0", "a", "a", position=0)
    old.close()
    same = annotation.open_store(path, _items(5), say=lambda m: pytest.fail(f"moved an unchanged store: {m}"))
    assert len(same.labels()) == 1            # the same answers: labels kept, nothing moved
    same.close()
    new_items = [{**i, "response_a": i["response_a"] + " (new)"} for i in _items(5)]
    said = []
    new = annotation.open_store(path, new_items, say=said.append)
    assert new.labels() == [] and new.item("p0")["response_a"] == "A0 (new)"
    kept = [p for p in tmp_path.glob("annotations.*.sqlite")]
    assert len(kept) == 1 and kept[0].name in said[0] and "5 of these comparisons" in said[0]
    moved = store.Store(kept[0])
    assert [lab["item_id"] for lab in moved.labels()] == ["p0"] and moved.item("p0")["response_a"] == "A0"


def test_importing_the_same_records_twice_counts_their_labels_once(db, tmp_path):
    rec = {"id": "x1@ann", "task": "hiring", "prompt": "p", "response_a": "A", "response_b": "B", "winner": "a",
           "annotator": "ann"}
    path = records.write_jsonl([rec], tmp_path / "once.jsonl")
    before = db.count("labels")
    assert db.import_jsonl(path, source="file") == 1
    assert db.import_jsonl(path, source="file") == 0                 # a second import adds nothing
    assert db.count("labels") == before + 1
    assert db.import_records([rec], source="elsewhere") == 1         # another source is another label
