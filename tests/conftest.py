"""Shared fixtures: the prompt pool, and hand-written responses of known quality."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.tasks.hiring import world as hiring  # noqa: E402


@pytest.fixture(scope="session")
def pool():
    return hiring.build_prompts()


def first(pool, kind, split="train", **facts):
    """The first prompt of a kind whose facts match (e.g. decision='advance')."""
    for p in pool[split]:
        if p["kind"] == kind and all(p["facts"].get(k) == v for k, v in facts.items()):
            if kind != "summary" or p["facts"]["note_points"]["skills"]:
                return p
    raise LookupError(kind)


def good_assessment(p):
    """What a careful recruiter writes: grounded evidence, a specific detail, the right decision."""
    return hiring.reference_answer(p)


def flip_decision(text, decision):
    other = "hold" if decision == "advance" else "advance"
    return text.replace(f"Decision: {decision}", f"Decision: {other}")
