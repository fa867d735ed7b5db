"""The annotation store: SQLite (standard library) in WAL mode, one committed transaction a click.

Several annotators may label at once (several kernels, or app sessions, on one file): WAL lets readers and one
writer work together, and a busy timeout makes concurrent writers wait their turn instead of failing. A kernel
killed mid-session loses at most the click in flight. Nothing is ever deleted: Undo marks a label as undone,
and the newest label of an annotator for an item is the one that counts.

Tables
    items   the pairs to compare (response_a/response_b in canonical order) and hidden gold items
    queue   each annotator's scheduled order of items, with planned re-annotations (self-consistency checks)
    labels  every click: canonical winner, which side was shown on the left, rationale, rubric scores
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from . import records

CHOICES = ("a", "b", "tie", "both_bad", "skip")

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item_id     TEXT PRIMARY KEY,
    task        TEXT NOT NULL,
    kind        TEXT,
    prompt_id   TEXT,
    prompt      TEXT NOT NULL,
    response_a  TEXT NOT NULL,
    response_b  TEXT NOT NULL,
    is_gold     INTEGER NOT NULL DEFAULT 0,
    gold_answer TEXT,              -- the known answer of a gold item: a, b or tie
    gold_type   TEXT,              -- e.g. 'clear' or 'name_swap'
    tags        TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS queue (
    annotator   TEXT NOT NULL,
    position    INTEGER NOT NULL,
    item_id     TEXT NOT NULL REFERENCES items(item_id),
    repeat      INTEGER NOT NULL DEFAULT 0,   -- 1: a scheduled re-annotation of an item seen before
    PRIMARY KEY (annotator, position)
);
CREATE TABLE IF NOT EXISTS labels (
    label_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    annotator   TEXT NOT NULL,
    item_id     TEXT NOT NULL REFERENCES items(item_id),
    repeat      INTEGER NOT NULL DEFAULT 0,
    position    INTEGER,                      -- where in the annotator's queue
    winner      TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie', 'both_bad', 'skip')),
    left_side   TEXT NOT NULL CHECK (left_side IN ('a', 'b')),  -- which canonical response was shown on the left
    rationale   TEXT NOT NULL DEFAULT '',
    scores      TEXT NOT NULL DEFAULT '{}',
    seconds     REAL,
    undone      INTEGER NOT NULL DEFAULT 0,
    source      TEXT NOT NULL DEFAULT 'widget',  -- widget, simulated, import
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS labels_by_annotator ON labels(annotator, item_id, repeat);
"""


ITEM_SQL = ("INSERT OR IGNORE INTO items (item_id, task, kind, prompt_id, prompt, response_a, response_b, is_gold, "
            "gold_answer, gold_type, tags, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
LABEL_SQL = ("INSERT INTO labels (annotator, item_id, repeat, position, winner, left_side, rationale, scores, seconds, "
             "source, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)")


def _item_row(i: dict) -> tuple:
    return (i["item_id"], i["task"], i.get("kind"), i.get("prompt_id"), i["prompt"], i["response_a"], i["response_b"],
            int(bool(i.get("is_gold"))), i.get("gold_answer"), i.get("gold_type"), json.dumps(i.get("tags") or {}),
            i.get("created_at") or records.now())


def _label_row(annotator, item_id, winner, left_side="a", repeat=0, position=None, rationale="", scores=None,
               seconds=None, source="widget", created_at=None) -> tuple:
    return (annotator, item_id, int(repeat), position, winner, left_side, rationale or "", json.dumps(scores or {}),
            seconds, source, created_at or records.now())


class Store:
    """A handle on the annotation database; open one per process (or per thread)."""

    def __init__(self, path: str | Path, timeout: float = 60.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open transactions ourselves, so each click is exactly one commit
        self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")   # durable at each commit's WAL write; fast
        self.db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        self.db.execute("PRAGMA foreign_keys=ON")
        with self.transaction() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def close(self) -> None:
        self.db.close()

    def move_aside(self) -> Path:
        """Close the store and rename its file to `<name>.<time of its last change><suffix>`, WAL checkpointed first so
        the moved file holds every label; returns the new path. Nothing is deleted."""
        from datetime import datetime, timezone
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.close()
        stamp = datetime.fromtimestamp(self.path.stat().st_mtime, timezone.utc).strftime("%Y%m%dT%H%M%S")
        kept = self.path.with_name(f"{self.path.stem}.{stamp}{self.path.suffix}")
        self.path.rename(kept)
        for extra in ("-wal", "-shm"):
            Path(str(self.path) + extra).unlink(missing_ok=True)
        return kept

    @contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front, so concurrent writers queue politely."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------ items and queues

    def add_items(self, items: list[dict]) -> int:
        """Insert items that are not there yet (by item_id); return how many were new."""
        before = self.count("items")
        with self.transaction() as db:
            db.executemany(ITEM_SQL, [_item_row(i) for i in items])
        return self.count("items") - before

    def conflicts(self, items: list[dict]) -> list[str]:
        """Ids of `items` the store already holds with other content (prompt or answers): labels there were given
        to other texts, so this store belongs to another set of answers."""
        known = {r["item_id"]: (r["prompt"], r["response_a"], r["response_b"])
                 for r in self.db.execute("SELECT item_id, prompt, response_a, response_b FROM items")}
        return [i["item_id"] for i in items
                if i["item_id"] in known and known[i["item_id"]] != (i["prompt"], i["response_a"], i["response_b"])]

    def item(self, item_id: str) -> dict:
        row = self.db.execute("SELECT * FROM items WHERE item_id = ?", (item_id,)).fetchone()
        if row is None:
            raise KeyError(f"no item {item_id!r} in {self.path}")
        return {**dict(row), "tags": json.loads(row["tags"]), "is_gold": bool(row["is_gold"])}

    def items(self, gold: bool | None = None) -> list[dict]:
        sql, args = "SELECT item_id FROM items", ()
        if gold is not None:
            sql, args = sql + " WHERE is_gold = ?", (int(gold),)
        return [self.item(r[0]) for r in self.db.execute(sql + " ORDER BY item_id", args)]

    def set_queue(self, annotator: str, entries: list[tuple[str, int]]) -> bool:
        """Schedule an annotator's queue [(item_id, repeat), ...] once; a second call keeps the first queue."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM queue WHERE annotator = ? LIMIT 1", (annotator,)).fetchone():
                return False
            db.executemany("INSERT INTO queue (annotator, position, item_id, repeat) VALUES (?,?,?,?)",
                           [(annotator, pos, item_id, rep) for pos, (item_id, rep) in enumerate(entries)])
        return True

    def queue(self, annotator: str) -> list[dict]:
        return [dict(r) for r in self.db.execute(
            "SELECT position, item_id, repeat FROM queue WHERE annotator = ? ORDER BY position", (annotator,))]

    def annotators(self) -> list[str]:
        names = {r[0] for r in self.db.execute("SELECT DISTINCT annotator FROM queue")}
        names |= {r[0] for r in self.db.execute("SELECT DISTINCT annotator FROM labels")}
        return sorted(names)

    # ------------------------------------------------------------ labels

    def add_label(self, annotator: str, item_id: str, winner: str, left_side: str = "a", repeat: int = 0,
                  position: int | None = None, rationale: str = "", scores: dict | None = None,
                  seconds: float | None = None, source: str = "widget") -> int:
        """Record one click, committed at once; return its label_id."""
        if winner not in CHOICES:
            raise ValueError(f"winner must be one of {', '.join(CHOICES)}, not {winner!r}")
        if left_side not in ("a", "b"):
            raise ValueError(f"left_side must be 'a' or 'b', not {left_side!r}")
        if not annotator.strip():
            raise ValueError("annotator name is empty")
        with self.transaction() as db:
            cur = db.execute(LABEL_SQL, _label_row(annotator, item_id, winner, left_side, repeat, position, rationale,
                                                   scores, seconds, source))
            return cur.lastrowid

    def undo_last(self, annotator: str) -> dict | None:
        """Mark the annotator's newest label as undone (kept for the audit trail); return it."""
        with self.transaction() as db:
            row = db.execute("SELECT * FROM labels WHERE annotator = ? AND undone = 0 ORDER BY label_id DESC LIMIT 1",
                             (annotator,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE labels SET undone = 1 WHERE label_id = ?", (row["label_id"],))
        return dict(row)

    def labels(self, annotator: str | None = None, include_skips: bool = False) -> list[dict]:
        """The labels that count: for each (annotator, item, repeat) the newest one not undone."""
        who, args = ("AND annotator = ? ", (annotator,)) if annotator is not None else ("", ())
        sql = ("SELECT l.* FROM labels l JOIN (SELECT MAX(label_id) AS id FROM labels WHERE undone = 0 " + who +
               "GROUP BY annotator, item_id, repeat) last ON l.label_id = last.id")
        rows = [{**dict(r), "scores": json.loads(r["scores"])} for r in self.db.execute(sql + " ORDER BY l.label_id", args)]
        return rows if include_skips else [r for r in rows if r["winner"] != "skip"]

    def done_positions(self, annotator: str) -> set[int]:
        """Queue positions the annotator has answered (skips included), for resuming."""
        # a queue position holds one (item, repeat), so any label there not undone answers it
        rows = self.db.execute("SELECT DISTINCT position FROM labels WHERE annotator = ? AND undone = 0 "
                               "AND position IS NOT NULL", (annotator,))
        return {r["position"] for r in rows}

    def count(self, table: str) -> int:
        if table not in ("items", "queue", "labels"):
            raise ValueError(table)
        return self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # ------------------------------------------------------------ export and import

    def export_records(self, include_gold: bool = False, include_repeats: bool = False) -> list[dict]:
        """Labels as preference records (docs/data_formats.md). 'Both bad' is exported as a tie tagged
        verdict=both_bad; skips are not exported."""
        out = []
        for lab in self.labels():
            if lab["repeat"] and not include_repeats:
                continue
            item = self.item(lab["item_id"])
            if item["is_gold"] and not include_gold:
                continue
            winner = "tie" if lab["winner"] == "both_bad" else lab["winner"]
            tags = {**item["tags"], "left_side": lab["left_side"]}
            if lab["winner"] == "both_bad":
                tags["verdict"] = "both_bad"
            out.append({"id": f"{item['item_id']}@{lab['annotator']}" + ("#repeat" if lab["repeat"] else ""),
                        "task": item["task"], "kind": item["kind"], "prompt_id": item["prompt_id"],
                        "prompt": item["prompt"], "response_a": item["response_a"], "response_b": item["response_b"],
                        "winner": winner, "annotator": lab["annotator"], "rationale": lab["rationale"],
                        "scores": lab["scores"], "is_gold": item["is_gold"], "tags": tags,
                        "created_at": lab["created_at"]})
        return out

    def import_jsonl(self, path: str | Path, source: str = "import") -> int:
        """Import preference records: every line is validated first (errors name file, line and field), then
        all are stored in one transaction. A bad file stores nothing. Returns how many labels were added."""
        return self.import_records(records.read_jsonl(path), source)

    def import_records(self, recs: list[dict], source: str = "import") -> int:
        """Store validated preference records as items and labels, in one transaction. A label this store already
        imported from the same `source` (same annotator, same comparison) is not added again, so importing a file
        twice counts its labels once. Returns how many labels were added."""
        done = {(r["annotator"], r["item_id"]) for r in
                self.db.execute("SELECT annotator, item_id FROM labels WHERE source = ?", (source,))}
        added = 0
        with self.transaction() as db:
            for r in recs:
                item_id = (r.get("tags") or {}).get("pair_id") or r["id"].split("@")[0]
                db.execute(ITEM_SQL, _item_row({**r, "item_id": item_id}))
                if (r["annotator"], item_id) in done:
                    continue
                db.execute(LABEL_SQL, _label_row(r["annotator"], item_id, r["winner"],
                                                 (r.get("tags") or {}).get("left_side", "a"), rationale=r.get("rationale"),
                                                 scores=r.get("scores"), source=source, created_at=r.get("created_at")))
                done.add((r["annotator"], item_id))
                added += 1
        return added
