"""The annotation project: what there is to compare, the hidden gold items, and each annotator's queue.

01_annotate and the web app (app/annotate.ipynb, served by Voila) open the same project through `open_project`,
so a recruiter in the browser and a notebook user label the same store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import annotators, config, records, sample_data, store, tasks, widget


@dataclass
class Project:
    db: store.Store
    prompts: dict[str, dict]     # every prompt an item refers to, by id
    pair_ids: list[str]
    gold_ids: list[str]
    responses_file: Path         # where the answers came from (00's output, or the shipped sample)
    profile: config.Profile

    def queue(self, name: str, item_ids: list[str]) -> list[tuple[str, int]]:
        p = self.profile
        return widget.build_queue(item_ids, self.gold_ids, p.n_repeats, p.seed, name)

    def human_queue(self, name: str) -> list[tuple[str, int]]:
        """A person who joins gets the comparisons with the fewest labels so far, plus gold and repeats."""
        counts = {pid: 0 for pid in self.pair_ids}
        for lab in self.db.labels():
            if lab["item_id"] in counts:
                counts[lab["item_id"]] += 1
        chosen = sorted(self.pair_ids, key=lambda pid: (counts[pid], pid))[: self.profile.human_queue_size]
        return self.queue(name, chosen)


def pair_items(pairs: list[dict], prompts: dict[str, dict], task: str, cut: set | None = None) -> list[dict]:
    """Store items for the comparisons. `cut`: the (prompt id, sample) of answers that hit the token limit, which the
    widget marks as cut."""
    render, cut = tasks.get(task).render_user_message, cut or set()
    return [{"item_id": p["pair_id"], "task": task, "kind": prompts[p["prompt_id"]]["kind"], "prompt_id": p["prompt_id"],
             "prompt": render(prompts[p["prompt_id"]]), "response_a": p["response_a"],
             "response_b": p["response_b"], "tags": {**prompts[p["prompt_id"]]["tags"], "pair_id": p["pair_id"],
                                                     "cut_a": (p["prompt_id"], p.get("sample_a")) in cut,
                                                     "cut_b": (p["prompt_id"], p.get("sample_b")) in cut}}
            for p in pairs]


def open_project(profile: config.Profile, paths: config.Paths, store_path: str | Path | None = None,
                 schedule_personas: bool = True) -> Project:
    """Open (or create) the store with this profile's comparisons and gold items; schedule the simulated
    recruiters' queues once. FEEDBACKLOOP_STORE overrides the store's location."""
    store_path = store_path or os.environ.get("FEEDBACKLOOP_STORE") or paths.generated / "annotations.sqlite"
    task = tasks.get(paths.task)
    if task.preferences is not None:
        return _file_project(task, profile, store_path)
    train = task.load_prompts("train", profile.n_train_prompts, paths.data / "prompts.jsonl")
    validation = task.load_prompts("validation", profile.n_val_prompts + profile.n_gold_items, paths.data / "prompts.jsonl")
    rows, responses_file = sample_data.responses_for(paths, train)
    prompts = {p["id"]: p for p in train + validation}
    pairs = records.make_pairs(sample_data.responses_by_prompt(rows), profile.pairs_per_prompt, profile.seed)
    cut = {(r["prompt_id"], r["sample"]) for r in rows if not r.get("finished", True)}
    items = pair_items(pairs, prompts, paths.task, cut)
    # gold items come from validation prompts that no training pair uses, past the ones kept for validation
    gold = task.gold_items(validation[profile.n_val_prompts:], profile.n_gold_items, profile.seed)
    db = open_store(store_path, items + gold)
    project = Project(db, prompts, [i["item_id"] for i in items], [g["item_id"] for g in gold], responses_file, profile)
    if schedule_personas:
        assigned = annotators.assign(project.pair_ids, profile.annotators_per_pair, profile.seed, list(task.personas))
        for name in task.personas:
            db.set_queue(name, project.queue(name, [pid for pid in project.pair_ids if name in assigned[pid]]))
    return project


def _file_project(task, profile: config.Profile, store_path) -> Project:
    """A task made from a preference file: its comparisons are the items, its labels are in the store already (by
    their annotators, imported once), and there are no gold items or simulated recruiters. A person who opens the
    widget labels the same comparisons beside them."""
    prompts = {p["id"]: p for split in task.splits for p in task.load_prompts(split)}
    recs = [r for r in task.preferences if not r.get("is_gold")]
    # as the task's prompts (a prompt too long to ask a policy is not among them; its comparisons are still labels)
    recs = [{**r, "kind": r.get("kind") or prompts.get(r["prompt_id"], {}).get("kind", "preference")} for r in recs]
    items = [{"item_id": (r.get("tags") or {}).get("pair_id") or r["id"].split("@")[0], **r} for r in recs]
    db = open_store(store_path, list({i["item_id"]: i for i in items}.values()))
    db.import_records(recs, source="file")
    pair_ids = sorted({i["item_id"] for i in items})
    return Project(db, prompts, pair_ids, [], Path(task.source), profile)


def open_store(path: str | Path, items: list[dict], say=print) -> store.Store:
    """The store at `path` with `items` added. A store that holds the same item ids with other texts was built from
    other answers (00 was run again): its labels would be read as labels of the new answers. It is moved aside,
    nothing deleted, and a new store is started; the message names both files."""
    path = Path(path)
    if path.exists():
        old = store.Store(path)
        clash = old.conflicts(items)
        if clash:
            labels = old.count("labels")
            kept = old.move_aside()
            say(f"{path.name} held other answers for {len(clash)} of these comparisons (00 was run again): moved to "
                f"{kept.name} with its {labels} labels, nothing deleted; a new store starts here.")
        else:
            old.close()
    db = store.Store(path)
    db.add_items(items)
    return db
