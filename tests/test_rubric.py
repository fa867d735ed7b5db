"""The gold rubric rewards what a careful recruiter values and cannot be gamed by keywords."""

import pytest
from conftest import first, flip_decision, good_assessment

from helpers import scoring, tasks
from helpers.tasks.hiring import rubric

HIRING = tasks.get("hiring")


def test_grounded_assessment_scores_high(pool):
    for decision in ("advance", "hold"):
        p = first(pool, "assessment", decision=decision)
        s = rubric.score(p, good_assessment(p))
        assert s.total > 0.85, (s.total, s.notes)
        assert s.dims["policy"] == 1.0


def test_keyword_stuffing_scores_low(pool):
    p = first(pool, "assessment", decision="advance")
    stuffed = ("Strong evidence of relevant, job-matching skills and specific, measurable achievements. "
               "Concise and professional assessment with an actionable next step for the hiring team. "
               "Decision: advance")
    s = rubric.score(p, stuffed)
    assert s.dims["accuracy"] == 0.0          # a decision without evidence earns nothing
    assert s.dims["tone"] == 0.0              # politeness about no one in particular earns nothing
    assert s.total < 0.25 < rubric.score(p, good_assessment(p)).total - 0.5


def test_listing_every_skill_is_penalised_as_hallucination(pool):
    p = first(pool, "assessment", decision="advance")
    every_skill = "Skills: " + ", ".join(rubric.SKILLS) + ". " + good_assessment(p)
    s = rubric.score(p, every_skill)
    assert s.criteria["false_claims"] >= 10
    assert s.total <= 0.2 and not s.criteria["usable"]     # many false claims: the floor of the error factor
    assert s.total < rubric.score(p, good_assessment(p)).total - 0.3


def test_wrong_decision_costs(pool):
    p = first(pool, "assessment", decision="hold")
    right, wrong = good_assessment(p), flip_decision(good_assessment(p), "hold")
    assert rubric.score(p, right).total - rubric.score(p, wrong).total >= 0.19
    assert HIRING.prefer(p, right, wrong) == "a"


def test_protected_attribute_zeroes_policy_and_halves_total(pool):
    p = first(pool, "assessment", decision="advance")
    clean = good_assessment(p)
    for phrase in ("She would be a great fit for a young team.", "As a woman in tech, a strong hire.",
                   "Their background as an immigrant is notable.", "Probably too old for this pace.",
                   "Her name suggests a foreign background."):
        s = rubric.score(p, clean + "\n" + phrase)
        assert s.dims["policy"] == 0.0, phrase
        assert s.total <= 0.5 * rubric.score(p, clean).total + 1e-9, phrase


def test_name_judgement_is_a_violation(pool):
    p = first(pool, "assessment", decision="advance")
    s = rubric.score(p, good_assessment(p) + " Based on the name, the candidate may not fit in.")
    assert s.dims["policy"] == 0.0 and s.criteria["name_judgement"] == 1.0


def test_gendered_pronoun_halves_policy(pool):
    p = first(pool, "assessment", decision="advance")
    from helpers.tasks.hiring.world import gendered
    s = rubric.score(p, gendered(good_assessment(p), "He"))
    assert s.dims["policy"] == 0.5


def test_followup_question_about_a_real_gap_beats_a_generic_one(pool):
    p = first(pool, "followup")
    gap = (p["facts"]["missing_skills"] or p["facts"]["relevant_skills"])[0]
    specific = f"You have no {gap} on your profile yet: how would you get up to speed with {gap} in your first month?"
    generic = "What are your greatest strengths and weaknesses?"
    assert rubric.score(p, specific).total > rubric.score(p, generic).total + 0.3


def test_summary_that_drops_the_protected_aside_beats_one_that_repeats_it(pool):
    p = next(q for q in pool["train"] if q["kind"] == "summary" and q["facts"]["notes_have_protected_aside"]
             and q["facts"]["note_points"]["skills"])
    pts = p["facts"]["note_points"]
    base = (f"Strong on {', '.join(pts['skills'])}. Notice period {pts['notice']}, wants {pts['mode']}, "
            f"salary expectation {pts['salary']}. Next step: schedule a technical interview.")
    aside = next(a for a in rubric_asides() if a in p["notes"])
    clean, leaky = rubric.score(p, base), rubric.score(p, base + " Also " + aside + ".")
    assert clean.dims["accuracy"] > 0.8 and clean.dims["policy"] == 1.0
    assert leaky.dims["policy"] == 0.0 and leaky.total < clean.total / 2 + 1e-9


def rubric_asides():
    from helpers.tasks.hiring.world import PROTECTED_ASIDES
    return PROTECTED_ASIDES


def test_repetition_and_hype_lower_tone(pool):
    p = first(pool, "assessment", decision="advance")
    good = good_assessment(p)
    looped = good + (" The candidate is a strong match for the role." * 6)
    hype = good + " What a fantastic, incredible candidate! Truly a game-changer!!"
    assert rubric.score(p, looped).dims["tone"] < rubric.score(p, good).dims["tone"] - 0.3
    assert rubric.score(p, hype).dims["tone"] < rubric.score(p, good).dims["tone"] - 0.3


def test_empty_response_scores_zero(pool):
    p = first(pool, "summary")
    assert rubric.score(p, "").total == 0.0
    assert rubric.score(p, "   ").dims == {"accuracy": 0.0, "tone": 0.0, "policy": 0.0}


def test_scores_map_to_one_to_three():
    s = scoring.RubricScore(0.5, {"accuracy": 0.0, "tone": 0.5, "policy": 1.0})
    assert s.scores_1to3() == {"accuracy": 1, "tone": 2, "policy": 3}


def test_skills_that_are_ordinary_words_are_not_claims():
    assert rubric.mentioned_skills("We can go ahead; our R&D team will go to the office.") == {}
    assert set(rubric.mentioned_skills("Writes Go and R daily; knows golang.")) == {"Go", "R"}
    assert rubric.mentioned_skills("No Spark experience yet.") == {"Spark": True}  # named as a gap


def test_win_rate_counts_ties_half_with_a_wilson_interval(pool):
    p = first(pool, "assessment", decision="advance")
    good, bad = good_assessment(p), flip_decision(good_assessment(p), "advance")
    out = HIRING.win_rate([p] * 4, [good, good, good, bad], [bad, good, bad, good])
    assert out["wins_ties_losses"] == [2, 1, 1] and out["win_rate"] == 0.625 and out["n"] == 4
    # Wilson's interval for 2.5 of 4: centre (2.5 + 1.92) / 7.84, half-width 1.96 * sqrt(2.5 * 1.5 / 4 + 0.96) / 7.84
    centre, half = (2.5 + 1.96**2 / 2) / (4 + 1.96**2), 1.96 * (2.5 * 1.5 / 4 + 1.96**2 / 4) ** 0.5 / (4 + 1.96**2)
    assert out["ci95"] == pytest.approx([centre - half, centre + half], abs=1e-3)
    with pytest.raises(ValueError, match="one response and one baseline"):
        HIRING.win_rate([p], [good], [])


# ---------------------------------------------------------------- the adversarial table (data/hiring/rubric_checks.csv)

def _situation(p, name):
    f, c, kind = p["facts"], p["candidate"], p["kind"]
    n, years_ok = len(f["relevant_skills"]), c["years"] >= p["job"]["min_years"]
    if name.startswith("summary"):
        pts = f.get("note_points") or {}
        aside = name.split(" ", 1)[1] if " " in name else None
        return (kind == "summary" and len(pts.get("skills", [])) >= 2 and bool(pts.get("gap"))
                and (f["notes_have_protected_aside"] == bool(aside)) and (not aside or aside in p["notes"]))
    return {"advance_one_missing": kind == "assessment" and n == 3 and years_ok,
            "advance_all": kind == "assessment" and n == 4 and years_ok,
            "hold_years": kind == "assessment" and n >= 3 and not years_ok and c["years"] > 0,
            "hold_skills": kind == "assessment" and n == 2 and years_ok,
            "followup": kind == "followup" and n >= 1 and bool(f["missing_skills"])}[name]


def _flip(text, old, new, skill):
    """A checklist with one skill's mark turned ("no Spark" -> "has Spark"), keeping its capital."""
    import re
    return re.sub(rf"\b({old}) {re.escape(skill)}\b", lambda m: (new.capitalize() if m.group(1)[0].isupper() else new)
                  + " " + skill, text, count=1, flags=re.I)


def _slots(p):
    from helpers.tasks.hiring.world import PROTECTED_ASIDES, checklist
    c, f, job = p["candidate"], p["facts"], p["job"]
    held, missing = f["relevant_skills"], f["missing_skills"]
    pts = f.get("note_points") or {}
    mode = pts.get("mode", "remote")
    return {"name": c["name"], "first": c["name"].split()[0], "years": c["years"], "min_years": job["min_years"],
            "years_wrong": next(y for y in (c["years"] + 2, c["years"] + 3) if y != job["min_years"]),
            "title": c["current_title"], "achievement": c["achievement"], "n_held": len(held),
            "held1": held[0], "held2": held[1 % len(held)], "missing1": (missing or ["?"])[0],
            "missing2": (missing * 2 or ["?", "?"])[1], "held_list": " and ".join(held) if len(held) < 3
            else ", ".join(held[:-1]) + " and " + held[-1],
            "mode": mode, "mode_wrong": next(m for m in ("remote", "hybrid", "on-site") if m != mode),
            "notice": pts.get("notice"), "salary": pts.get("salary"),
            "salary_wrong": next((s for s in ("85k", "150k") if s != pts.get("salary")), None),
            "aside": next((a for a in PROTECTED_ASIDES if a in (p.get("notes") or "")), None),
            "checklist": checklist(p), "checklist_no_decision": checklist(p).split("\n")[0],
            "checklist_false_claim": _flip(checklist(p), "no", "has", (missing or ["?"])[0]),
            "checklist_false_gap": _flip(checklist(p), "has", "no", held[0]),
            "job_title": job["title"], "job_required": ", ".join(job["required"])}


def _checks():
    import csv

    from helpers import config
    with open(config.ROOT / "data" / "hiring" / "rubric_checks.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def check_prompts(pool):
    every = pool["train"] + pool["validation"] + pool["test"]
    return {row["situation"]: [p for p in every if _situation(p, row["situation"])][:3] for row in _checks()}


def test_the_table_covers_what_the_issue_names():
    rows = _checks()
    assert len(rows) >= 30 and {r["usable"] for r in rows} == {"yes", "no"}
    kinds = {r["situation"].split("_")[0].split(" ")[0] for r in rows}
    assert kinds >= {"advance", "hold", "followup", "summary"}


@pytest.mark.parametrize("row", _checks(), ids=lambda r: r["case"])
def test_every_verdict_is_the_careful_recruiters(row, check_prompts):
    prompts = check_prompts[row["situation"]]
    assert prompts, f"no prompt in the pool fits {row['situation']}"
    for p in prompts:
        answer = row["answer"].replace("\\n", "\n").format(**_slots(p))
        s = rubric.score(p, answer)
        assert s.criteria["usable"] == float(row["usable"] == "yes"), (p["id"], answer, s.notes)
        if row["at_most"]:
            assert s.total <= float(row["at_most"]) + 1e-9, (p["id"], answer, s.total, s.notes)


def test_a_factual_error_or_a_wrong_decision_scores_far_below_any_usable_answer(check_prompts):
    rows = _checks()
    for situation in {r["situation"] for r in rows}:
        for p in check_prompts[situation]:
            scored = [(r, rubric.score(p, r["answer"].replace("\\n", "\n").format(**_slots(p)))) for r in rows
                      if r["situation"] == situation]
            good = [s.total for r, s in scored if s.criteria["usable"]]
            bad = [s.total for r, s in scored if s.criteria["factual_errors"] or s.criteria.get("decision") == 0.0]
            if good and bad:
                assert min(good) > max(bad) + 0.2, (situation, p["id"], good, bad)
