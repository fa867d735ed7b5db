"""What every rubric shares (helpers/scoring.py): how words are counted, shouting, repetition, win rates."""

import math

import pytest

from helpers import scoring


def test_words_keep_skills_amounts_and_addresses_whole_and_drop_trailing_stops():
    assert scoring.words("Node.js, C++ and C# for $39.99 (mail a.b@c.com) earlier.") == \
        ["Node.js", "C++", "and", "C#", "for", "$39.99", "mail", "a.b@c.com", "earlier"]
    assert scoring.words(" ... - ") == ["-"] and scoring.words(None) == []


def test_shouting_is_seen_at_the_end_of_a_sentence_too():
    assert scoring.shouted("He is AMAZING. A TOTAL rockstar, with SQL and AWS.") == 2   # not SQL, AWS
    assert scoring.shouted("What an INCREDIBLE, AMAZING hire!!") == 2


def test_a_full_stop_does_not_hide_a_repeated_phrase():
    assert scoring.repetition("the candidate is strong. the candidate is strong.") == pytest.approx(
        scoring.repetition("the candidate is strong the candidate is strong"))


def test_tally_and_its_interval():
    out = scoring.tally(["a", "a", "tie", "b"])
    assert out["win_rate"] == 0.625 and out["wins_ties_losses"] == [2, 1, 1] and out["n"] == 4
    lo, hi = out["ci95"]
    assert lo < 0.625 < hi
    assert all(math.isnan(x) for x in scoring.proportion_ci(0, 0))        # nothing to count: no interval
    with pytest.raises(ValueError):
        scoring.tally([])
