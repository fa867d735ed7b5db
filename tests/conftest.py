"""Shared fixtures: the prompt pool, and hand-written responses of known quality."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.tasks.hiring import world as hiring  # noqa: E402

SHIPPED_TASKS = ("hiring", "support")   # the tasks tests iterate over: test_adapt_guide.py adds a copy for a while


def smoke_model() -> str:
    """The folder of the smoke profile's model: what the tests train and sample, where the model's size does not matter
    (the first blocks of the offline copy; tests/test_models.py checks the full copy itself)."""
    from helpers import config, models
    return models.resolve_model(config.PROFILES["smoke"]).path


@pytest.fixture
def fp32(monkeypatch):
    """The fp32 path (FEEDBACKLOOP_PRECISION=fp32), for tests that check two computations of the same numbers against
    each other to float noise: bf16 autocast (the default on a CPU with native bf16) rounds each its own way."""
    from helpers import config
    monkeypatch.setenv(config.PRECISION_ENV, "fp32")
    return config.choose_precision("cpu")


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
