"""Shared fixtures: the prompt pool, and hand-written responses of known quality."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers import hiring  # noqa: E402


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
    c, f = p["candidate"], p["facts"]
    held = f["relevant_skills"][:2] or [c["skills"][0]]
    gap = f"The candidate has no {f['missing_skills'][0]} experience yet." if f["missing_skills"] else \
        "The candidate covers every required skill."
    return (f"{c['name']} has {c['years']} years of experience, currently {c['current_title']} at {c['employer']}, "
            f"with hands-on {' and '.join(held)}. The candidate {c['achievement']}. {gap} "
            f"This is a {'strong' if f['decision'] == 'advance' else 'partial'} match for the {p['job']['title']} role.\n"
            f"Decision: {f['decision']}")


def flip_decision(text, decision):
    other = "hold" if decision == "advance" else "advance"
    return text.replace(f"Decision: {decision}", f"Decision: {other}")
