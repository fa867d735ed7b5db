"""The pairwise annotation widget (core ipywidgets only: works in Jupyter, Colab and Voila).

`Session` is the logic of one annotator working through their queue: which item is next, which response is
shown on the left (randomized per annotator and item, and recorded), submitting, going back, undoing, resuming.
`AnnotationApp` puts a face on it. Simulated recruiters use the very same path: `simulate` decides with a
persona and then *clicks the app's buttons*, so a simulated label and a human one differ only in who decided.

All text from data is HTML-escaped before it is shown: a profile containing markup or a <script> tag is shown
as text, never executed.
"""

from __future__ import annotations

import hashlib
import html
import random
import time

import ipywidgets as w

from .store import Store

DISPLAY_CHOICES = {"left": "A better", "right": "B better", "tie": "Tie", "both_bad": "Both bad", "skip": "Skip"}
SCORE_DIMS = ("accuracy", "tone", "policy")


def left_side(annotator: str, item_id: str, repeat: int) -> str:
    """Which canonical response ('a' or 'b') this annotator sees on the left for this item: a fair coin,
    fixed per (annotator, item, repeat) so a resumed session shows the same layout."""
    digest = hashlib.sha256(f"{annotator}|{item_id}|{repeat}".encode()).digest()
    return "a" if digest[0] % 2 == 0 else "b"


def build_queue(item_ids: list[str], gold_ids: list[str], n_repeats: int, seed: int, annotator: str,
                min_gap: int = 10) -> list[tuple[str, int]]:
    """An annotator's queue: their items and every gold item, shuffled, plus n_repeats re-annotations of
    earlier non-gold items placed at least `min_gap` positions after the first showing."""
    rng = random.Random(f"{seed}|{annotator}")
    entries = [(i, 0) for i in item_ids] + [(g, 0) for g in gold_ids]
    rng.shuffle(entries)
    candidates = [i for i, _ in entries[: max(0, len(entries) - min_gap)] if i not in set(gold_ids)]
    for item_id in rng.sample(candidates, min(n_repeats, len(candidates))):
        first = next(pos for pos, (i, _) in enumerate(entries) if i == item_id)
        entries.insert(rng.randint(first + min_gap, len(entries)), (item_id, 1))
    return entries


class Session:
    """One annotator's pass through their queue in a store. Resumes at the first unanswered position."""

    def __init__(self, store: Store, annotator: str):
        self.store, self.annotator = store, annotator.strip()
        if not self.annotator:
            raise ValueError("annotator name is empty")
        self.entries = store.queue(self.annotator)
        if not self.entries:
            raise ValueError(f"{self.annotator!r} has no queue in {store.path}: schedule one with store.set_queue")
        self.pointer = self._first_open()

    def _first_open(self, start: int = 0) -> int:
        """The first unanswered entry from `start` on (wrapping round to the start), or the end when all are done."""
        done = self.store.done_positions(self.annotator)
        order = list(range(start, len(self.entries))) + list(range(0, start))
        return next((i for i in order if self.entries[i]["position"] not in done), len(self.entries))

    @property
    def total(self) -> int:
        return len(self.entries)

    @property
    def done(self) -> int:
        return len(self.store.done_positions(self.annotator))

    def current(self) -> dict | None:
        """The item to show now, with `left`/`right` texts in display order, or None when the queue is done."""
        if self.pointer >= len(self.entries):
            return None
        e = self.entries[self.pointer]
        item = self.store.item(e["item_id"])
        side = left_side(self.annotator, e["item_id"], e["repeat"])
        left, right = (item["response_a"], item["response_b"]) if side == "a" else (item["response_b"], item["response_a"])
        return {**item, "position": e["position"], "repeat": e["repeat"], "left_side": side, "left": left, "right": right}

    def submit(self, choice: str, rationale: str = "", scores: dict | None = None, seconds: float | None = None,
               source: str = "widget") -> int:
        """Record the choice for the current item (display terms: left/right/tie/both_bad/skip) and move on."""
        if choice not in DISPLAY_CHOICES:
            raise ValueError(f"choice must be one of {', '.join(DISPLAY_CHOICES)}, not {choice!r}")
        cur = self.current()
        if cur is None:
            raise IndexError("the queue is finished")
        other = "b" if cur["left_side"] == "a" else "a"
        winner = {"left": cur["left_side"], "right": other}.get(choice, choice)
        label_id = self.store.add_label(self.annotator, cur["item_id"], winner, cur["left_side"], cur["repeat"],
                                        cur["position"], rationale, scores, seconds, source)
        self.pointer = self._first_open(self.pointer + 1)   # after a Back, skip what is already answered
        return label_id

    def back(self) -> None:
        """Show the previous item again; a new answer there replaces the old one."""
        self.pointer = max(0, self.pointer - 1)

    def undo(self) -> dict | None:
        """Withdraw the newest label and show its item again."""
        undone = self.store.undo_last(self.annotator)
        if undone is not None and undone["position"] is not None:
            self.pointer = next(i for i, e in enumerate(self.entries) if e["position"] == undone["position"])
        return undone


def _text_box(title: str, text: str) -> str:
    return (f"<div style='border:1px solid #ccc;border-radius:6px;padding:8px;min-height:120px'>"
            f"<b>{html.escape(title)}</b><div style='white-space:pre-wrap;margin-top:4px'>{html.escape(text)}</div></div>")


class AnnotationApp:
    """The widget: asks the annotator's name once, then shows one comparison at a time.

    `queue_for(name)` is called the first time a name is seen, to schedule that annotator's queue; `dims` are the
    rubric dimensions offered for 1-3 scores (the task's, `tuple(task.weights)`).
    """

    def __init__(self, store: Store, queue_for=None, annotator: str | None = None, instructions: str = "",
                 dims: tuple[str, ...] = SCORE_DIMS, dim_help: dict[str, str] | None = None):
        self.store, self.queue_for, self.session = store, queue_for, None
        self.source, self._shown_at = "widget", time.perf_counter()
        self.name = w.Text(placeholder="Your name (asked once)", description="Annotator:")
        self.start = w.Button(description="Start", button_style="primary")
        self.start.on_click(lambda _: self._begin(self.name.value))
        self.header = w.HTML()
        self.bar = w.IntProgress(min=0, max=1, layout=w.Layout(width="100%"))
        self.prompt = w.HTML()
        self.left, self.right = w.HTML(layout=w.Layout(width="50%")), w.HTML(layout=w.Layout(width="50%"))
        self.buttons = {k: w.Button(description=v, tooltip=f"{v} (Tab to move, Enter or Space to press)")
                        for k, v in DISPLAY_CHOICES.items()}
        self.buttons["left"].button_style = self.buttons["right"].button_style = "success"
        for key, button in self.buttons.items():
            button.on_click(lambda _, k=key: self._choose(k))
        dim_help = dim_help or {}
        self.scores = {d: w.ToggleButtons(options=["-", "1", "2", "3"], value="-", description=d,
                                          tooltips=["no score", "1: poor", "2: fair", "3: good"],
                                          style={"button_width": "34px"}) for d in dims}
        self.scores_help = w.HTML(
            "<small><b>Optional: score the answer you preferred</b>, 1 (poor) to 3 (good), on each dimension"
            + (": " + "; ".join(f"<b>{html.escape(d)}</b>: {html.escape(dim_help[d])}" for d in dims if d in dim_help)
               if dim_help else "") + ".</small>")
        self.rationale = w.Textarea(placeholder="Why? (optional)", layout=w.Layout(width="100%", height="48px"))
        self.back_button, self.undo_button = w.Button(description="◀ Back"), w.Button(description="Undo")
        self.back_button.on_click(lambda _: self._move(back=True))
        self.undo_button.on_click(lambda _: self._move(back=False))
        self.status = w.HTML()
        self.help = w.HTML(f"<i>{html.escape(instructions)}</i>" if instructions else "")
        self.login_msg = w.HTML()
        self.login = w.VBox([w.HBox([self.name, self.start]), self.login_msg])
        self.work = w.VBox([self.header, self.bar, self.help, self.prompt, w.HBox([self.left, self.right]),
                            w.HBox(list(self.buttons.values())), self.scores_help, w.HBox(list(self.scores.values())),
                            self.rationale, w.HBox([self.back_button, self.undo_button]), self.status],
                           layout=w.Layout(display="none"))
        self.root = w.VBox([self.login, self.work])
        if annotator:
            self.name.value = annotator
            self._begin(annotator)

    def _ipython_display_(self):
        from IPython.display import display
        display(self.root)

    def _begin(self, name: str) -> None:
        name = name.strip()
        if not name:
            self.login_msg.value = "<span style='color:#b00'>Please enter your name first.</span>"
            return
        if not self.store.queue(name):
            if self.queue_for is None:
                self.login_msg.value = f"<span style='color:#b00'>No queue for {html.escape(name)}.</span>"
                return
            self.store.set_queue(name, self.queue_for(name))
        self.session = Session(self.store, name)
        self.login.layout.display = "none"
        self.work.layout.display = None
        self._render()

    def _render(self) -> None:
        s = self.session
        cur = s.current()
        self.bar.max, self.bar.value = max(1, s.total), s.done
        self.header.value = f"<b>{html.escape(s.annotator)}</b>: {s.done} of {s.total} done"
        for button in self.buttons.values():
            button.disabled = cur is None
        if cur is None:
            self.prompt.value = "<b>All done, thank you.</b> Every answer is saved."
            self.left.value = self.right.value = ""
            return
        again = " (shown again on purpose, to check consistency)" if cur["repeat"] else ""
        self.prompt.value = _text_box(f"Item {cur['position'] + 1}{again}: the request", cur["prompt"])
        tags = cur.get("tags") or {}
        right_side = "b" if cur["left_side"] == "a" else "a"
        cut = " (cut off at the length limit: it did not finish)"
        self.left.value = _text_box("A" + (cut if tags.get(f"cut_{cur['left_side']}") else ""), cur["left"])
        self.right.value = _text_box("B" + (cut if tags.get(f"cut_{right_side}") else ""), cur["right"])
        self.rationale.value = ""
        for toggle in self.scores.values():
            toggle.value = "-"
        self._shown_at = time.perf_counter()

    def _choose(self, choice: str) -> None:
        if self.session is None or self.session.current() is None:
            return
        scores = {d: int(t.value) for d, t in self.scores.items() if t.value != "-"}
        self.session.submit(choice, self.rationale.value.strip(), scores,
                            round(time.perf_counter() - self._shown_at, 2), self.source)
        self.status.value = f"Saved: {DISPLAY_CHOICES[choice]}."
        self._render()

    def _move(self, back: bool) -> None:
        if self.session is None:
            return
        if back:
            self.session.back()
            self.status.value = "Back one item: a new answer replaces the old one."
        else:
            undone = self.session.undo()
            self.status.value = "Undid the last answer." if undone else "Nothing to undo."
        self._render()


def simulate(app: AnnotationApp, persona, prompts: dict[str, dict], seed: int = 0) -> int:
    """Let a simulated recruiter work through `app`'s current session by clicking its buttons.

    The persona sees what a human sees, in the same left/right order, so its left-position bias acts on the
    left. Returns the number of clicks.
    """
    from . import annotators
    score = persona.gold     # the persona's task's gold rubric (its 1-3 scores go in the form)
    clicks = 0
    app.source = "simulated"
    try:
        while (cur := app.session.current()) is not None:
            prompt = prompts[cur["prompt_id"]]
            key = f"{cur['item_id']}#{cur['repeat']}"
            pick = persona.choose(prompt, cur["left"], cur["right"], key, seed, position=cur["position"])
            preferred = cur["left"] if pick == "a" else cur["right"] if pick == "b" else None
            app.rationale.value = annotators.rationale(prompt, cur["left"], cur["right"], pick, score)
            if preferred is not None:
                for dim, value in annotators.scored(score, prompt, preferred).scores_1to3().items():
                    if dim in app.scores:
                        app.scores[dim].value = str(value)
            app.buttons[{"a": "left", "b": "right"}.get(pick, "tie")].click()
            clicks += 1
    finally:
        app.source = "widget"
    return clicks
