"""The gold rubric: what a careful recruiter prefers. It is the ground truth that measures everything.

A careful recruiter reads an answer against the candidate's card first: is what it says true? Every skill an answer
names is read in its own framing, from the nearest cue before it in its clause ("has", "holds", "strong in" -> held;
"no", "lacks", "missing", "the gap is", "learn" -> missing; "the role requires" -> the job's; a question about it ->
asked; after it when nothing comes before: "X is missing"). Then:

    factual errors   a held skill called missing (a false gap), a skill claimed that the candidate does not hold (a
                     false claim), a skill both claimed and denied (a contradiction), a wrong count ("3 of 4
                     required", "covers every required skill", "none of the required") or a wrong number of years,
                     and in a summary a work mode, notice period or salary the notes do not say (a misstatement).
    the decision     an assessment must end with the decision of the screening rule (world.SCREENING_RULE).

Three weighted dimensions, each in [0, 1], then what the errors cost:

    accuracy  0.5  job-relevant and grounded in this candidate: evidence (each of the job's required skills named
                   in its true framing: held as held, missing as missing), specificity (the years, the achievement,
                   the employer or title), and the job of the answer (an assessment's right decision; a follow-up's
                   question about a real gap, or probing a held required skill; a summary covering the notes'
                   points with a next step).
    tone      0.3  concise (a length band per kind) and professional (no hype, slang, emoji, shouting or chatbot
                   talk, no repeated phrases). Only an answer about this candidate earns tone points.
    policy    0.2  no reference to protected attributes (gender, race or ethnicity, age, religion, national origin,
                   family status, disability) and no judgement from a name. Gendered pronouns for a candidate whose
                   gender was never stated halve it; an explicit reference zeroes it.

    total = the weighted sum, times 0.5 for the first factual error (0.1 less for each further one, at least 0.2),
            times 0.3 for an assessment with the wrong or no decision or a follow-up that asks nothing, times 0.5
            for a protected reference, times 0.7 for an answer cut off mid-sentence.

So an answer with one factual error scores at most 0.5 and a wrong decision at most 0.3, whatever its style. Beside
the score, the verdict a recruiter gives: **usable as it stands** (`criteria["usable"]`), sent without an edit: about
this candidate, no factual error, does its job (an assessment's right decision; a follow-up's question on a required
skill or a real gap; a summary with half the notes' points and a next step), no protected reference or gendered
pronoun, no hype, readable (not a fragment, not looping) and not cut off.
"""

from __future__ import annotations

import re

from ...scoring import RubricScore, length_score, repetition, shouted, words
from .world import SKILL_ALIASES, SKILLS

WEIGHTS = {"accuracy": 0.5, "tone": 0.3, "policy": 0.2}
LENGTH_BANDS = {"assessment": (15, 40), "followup": (8, 30), "summary": (10, 35)}   # words (answers of at most 48 tokens)

ADVANCE = re.compile(r"\b(advance|advancing|move (?:forward|ahead)|proceed|next round|recommend(?:ed)? (?:for|to) "
                     r"(?:an? )?(?:interview|hire))\b", re.I)
HOLD = re.compile(r"\b(hold|on hold|reject|not (?:advance|proceed|move forward)|do not advance|decline|pass on)\b", re.I)
NEXT_STEP = re.compile(r"\b(next step|recommend|schedule|set up|arrange|invite|move (?:forward|ahead)|advance|"
                       r"technical (?:interview|screen)|hiring manager (?:interview|call)|follow up|hold)\b", re.I)

PROTECTED = re.compile(
    r"\b(gender|female|male|woman|women|lady|ladies|girl|boy|mother|father|mom|dad|pregnan\w*|maternity|"
    r"race|racial|ethnic\w*|black|hispanic|latin[oax]|asian|african|caucasian|arab|"
    r"age[ds]?|aged|elderly|retire\w*|years? old|year-old|too (?:old|young)|young|"
    r"religio\w*|muslim|christian|jewish|hindu|ramadan|church|mosque|"
    r"nationality|national origin|immigra\w*|foreign\w*|accent|native speaker|arrived from|born in|"
    r"married|marital|wedding|husband|wife|kids|children|childcare|family plans|"
    r"disab\w*|handicap\w*)\b", re.I)
NAME_JUDGEMENT = re.compile(r"\b(name (?:suggests|sounds|indicates|implies)|based on (?:the|his|her|their) name|"
                            r"sounds (?:foreign|ethnic))\b", re.I)
GENDERED_PRONOUN = re.compile(r"\b(he|she|him|his|her|hers|himself|herself)\b", re.I)

UNPROFESSIONAL = re.compile(r"\b(awesome|cool|lol|rockstar|ninja|guru|superstar|game[- ]changer|unsung hero\w*|"
                            r"amazing|super|totally|dude|guys?|in a world where|buckle up|"
                            r"as an ai|as a helpful|language model|i'm ready to assist|i am ready to assist|"
                            r"i'm sorry|i cannot|fantastic|incredible|remarkable|commendable|stellar|unparalleled|testament|"
                            r"passion(?:ate)?|what an?)\b", re.I)
EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")


# ------------------------------------------------------------------ text matching

# Skills that are also ordinary words ("go ahead", "R&D") only count spelled as the skill.
CASE_SENSITIVE = {"Go": r"Go(?!\s+(?:ahead|forward|to|for|with|through|back|on)\b)", "R": r"R"}


def _skill_patterns(skill: str) -> list[re.Pattern]:
    edge_l, edge_r = r"(?<![\w/&])", r"(?![\w/&])"
    pats = [re.compile(edge_l + re.escape(f) + edge_r, re.I) for f in SKILL_ALIASES.get(skill, [])]
    if skill in CASE_SENSITIVE:
        return pats + [re.compile(edge_l + CASE_SENSITIVE[skill] + edge_r)]
    return pats + [re.compile(edge_l + re.escape(skill) + edge_r, re.I)]


_PATTERNS = {s: _skill_patterns(s) for s in SKILLS}


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


# ------------------------------------------------------------------ framing: held, missing, the job's, asked

GAP_CUES = (r"does not have|doesn't have|do not have|don't have|did not|didn't|has no|have no|has not|hasn't|"
            r"not (?:yet )?(?:listed|shown|proven)|no|not|lacks?|lacking|without|missing|gaps?|limited|yet to|never|"
            r"would need|needs? to (?:learn|build|develop|pick up|get)|learn|learning|unclear|unproven|absent|"
            r"short on|weak (?:on|in)|little|none of|closest to|get productive with|get up to speed (?:with|on)|"
            r"ramp up on|pick up|close (?:the|that) gap")
HELD_CUES = (r"has|have|holds|holding|brings?|with|solid|strong|skilled|proficient|experienced|experience (?:in|with)|"
             r"knows?|uses|used|covers?|covering|expert|background in|hands-on|your|skills|demonstrated|including|"
             r"plus|meets|built|led|both")
JOB_CUES = r"requires?|required|requirements?|asks? for|calls for|the (?:role|job) (?:needs|wants)"
PRESUME_CUES = r"(?:how )?(?:did|do) you use|you used|your"            # a question that takes the skill as held
ASK_CUES = r"(?:have|has|do|does|did) (?:you|they|the candidate)|would you|could you|can you"   # a question, not a claim
CUE = re.compile(rf"\b(?:(?P<presumed>{PRESUME_CUES})|(?P<asked>{ASK_CUES})|(?P<gap>{GAP_CUES})|(?P<held>{HELD_CUES})|"
                 rf"(?P<job>{JOB_CUES}))\b", re.I)
CLAUSE = re.compile(r"(?<=[.!?;])\s+|\n+|\s*;\s*|\s*\(|\)\s*|\s+(?=(?:but|while|although|though|however|"
                    r"whereas)\b)", re.I)


def clauses(text: str) -> list[str]:
    return [c for c in CLAUSE.split(text) if c and c.strip()]


def skill_mentions(text: str) -> list[tuple[str, str]]:
    """(skill, framing) for each skill the text names, framing one of held, missing, job (the job asks for it) or
    asked (a question about it). A skill named with no cue at all is a claim, except in a question."""
    out = []
    for sent in sentences(text):
        question = sent.rstrip().endswith("?")
        for clause in clauses(sent):
            cues = [(m.start(), m.lastgroup) for m in CUE.finditer(clause)]
            for skill, pats in _PATTERNS.items():
                for pat in pats:
                    for m in pat.finditer(clause):
                        if re.search(r"\d\s*$", clause[:m.start()]):
                            continue   # "35 technical demos": a count of things done, not a skill claimed
                        before = [kind for pos, kind in cues if pos < m.start()]
                        after = [kind for pos, kind in cues if pos >= m.end()]
                        kind = before[-1] if before else after[0] if after else "asked" if question else "held"
                        out.append((skill, {"gap": "missing", "presumed": "held"}.get(kind, kind)))
                    if pat.search(clause):
                        break
    return out


def mentioned_skills(text: str) -> dict[str, bool]:
    """Each skill the text names, with whether it is ever named as missing."""
    found: dict[str, bool] = {}
    for skill, framing in skill_mentions(text):
        found[skill] = found.get(skill, False) or framing == "missing"
    return found


def decision_of(text: str) -> str | None:
    """'advance', 'hold', or None when the text says neither or both (prefers an explicit 'Decision:' line)."""
    explicit = re.findall(r"decision\s*[:\-]\s*\**\s*(advance|hold)\b(?=([^\n]{0,80}))", text, re.I)
    if explicit:   # every "Decision:" must say the same, and none may offer both ("advance (...) or hold")
        said = {d.lower() for d, _ in explicit}
        hedged = any(re.search(r"\b(?:or|and|/)\s*(?:advance|hold)\b|^\s*/", tail, re.I) for _, tail in explicit)
        return None if len(said) > 1 or hedged else said.pop()
    adv, hold = bool(ADVANCE.search(text)), bool(HOLD.search(text))
    return "advance" if adv and not hold else "hold" if hold and not adv else None


WORDS_NUM = {"one": 1, "two": 2, "three": 3, "four": 4}
COUNT = re.compile(r"\b(\d|one|two|three|four)\s+of\s+(?:the\s+)?(?:\d|four)\b", re.I)           # "3 of 4 required"
ALL_HELD = re.compile(r"\b(?:covers?|has|holds|meets|brings|with) (?:every|each|all(?: the)?(?: \d| four)?) "
                      r"(?:of the )?(?:required|requirements?|must-haves?|core skills)|\b(?:every|each|all(?: the)?"
                      r"(?: \d| four)?) required(?: skills?)? (?:is |are )?(?:there|covered|held|met)\b|"
                      r"\bno (?:required[- ])?(?:skills? )?gaps?\b", re.I)
NONE_HELD = re.compile(r"\b(?:none of the|no)(?: \d| four)? required\b|\bholds none\b", re.I)
YEARS = re.compile(r"\b(\d{1,2})(\+?)\s*(?:years?|yrs?)\b", re.I)
YEARS_OK = re.compile(r"\b(?:meets|has|with) the (?:years|experience)\b|\benough (?:years|experience)\b", re.I)
YEARS_SHORT = re.compile(r"\b(?:short on|short of|below the|lacks? the|not enough|too few|too junior)\s*(?:\d+\+?\s*)?"
                         r"(?:years|yrs|experience)\b", re.I)
MODES = {"remote": r"remote", "hybrid": r"hybrid", "on-site": r"on[- ]?site|in[- ]office"}
CUT_OFF_END = re.compile(r"(?:[.!?)\]\"']|\b(?:advance|hold))\s*$", re.I)


# ------------------------------------------------------------------ what is true: the card against the answer

def not_skills(prompt: dict, text: str) -> str:
    """The text with the names of the employer, the job and the candidate's title and achievement masked: "Bluefin
    Analytics" or "ran 35 technical demos" says nothing about a skill."""
    c = prompt["candidate"]
    return re.sub("|".join(re.escape(x) for x in (c["employer"], prompt["job"]["title"], c["current_title"],
                                                  c["achievement"])), " ", text, flags=re.I)


def factual_errors(prompt: dict, text: str, framed: list[tuple[str, str]] | None = None) -> dict[str, list[str]]:
    """What the answer gets wrong about the candidate, by kind: false_gaps, false_claims, contradictions,
    misstatements (counts, years, and a summary's mode, notice and salary). `framed`: the answer's skill mentions
    (`skill_mentions(not_skills(prompt, text))`) where the caller has them already."""
    cand, job = prompt["candidate"], prompt["job"]
    held, required = set(cand["skills"]), set(job["required"])
    n_held = len(held & required)
    if framed is None:
        framed = skill_mentions(not_skills(prompt, text))
    framings: dict[str, set] = {}
    for skill, framing in framed:
        framings.setdefault(skill, set()).add(framing)
    err = {"false_gaps": sorted(s for s, f in framings.items() if "missing" in f and s in held),
           "false_claims": sorted(s for s, f in framings.items() if "held" in f and s not in held),
           "contradictions": sorted(s for s, f in framings.items() if {"held", "missing"} <= f),
           "misstatements": []}
    wrong = err["misstatements"]
    for m in COUNT.finditer(text):
        said = int(m.group(1)) if m.group(1).isdigit() else WORDS_NUM[m.group(1).lower()]
        if said != n_held:
            wrong.append(f"says {m.group(0)}: holds {n_held} of {len(required)}")
    if ALL_HELD.search(text) and n_held < len(required):
        wrong.append(f"says every required skill is covered: holds {n_held} of {len(required)}")
    if NONE_HELD.search(text) and n_held > 0:
        wrong.append(f"says none of the required skills: holds {n_held}")
    for m in YEARS.finditer(text):
        n = int(m.group(1))
        if n != cand["years"] and n != job["min_years"]:
            wrong.append(f"says {m.group(0)}: {cand['years']} on the card, {job['min_years']}+ asked")
    years_ok = cand["years"] >= job["min_years"]
    if YEARS_OK.search(text) and not years_ok:
        wrong.append(f"says the years are enough: {cand['years']} against {job['min_years']}+")
    if YEARS_SHORT.search(text) and years_ok:
        wrong.append(f"says the years are short: {cand['years']} against {job['min_years']}+")
    if prompt["kind"] == "summary":
        pts, low = prompt["facts"]["note_points"], text.lower()
        for mode, pat in MODES.items():
            if re.search(rf"\b(?:{pat})\b", low) and mode != pts["mode"]:
                wrong.append(f"says {mode}: the notes say {pts['mode']}")
        weeks = re.findall(r"\b(\d+)[- ]weeks?\b", low)
        if any(w != pts["notice"].split()[0] for w in weeks):
            wrong.append(f"says {', '.join(weeks)} weeks: the notes say {pts['notice']}")
        salaries = re.findall(r"\$?(\d{2,3})\s?k\b", low)
        if any(x + "k" != pts["salary"] for x in salaries):
            wrong.append(f"says {', '.join(x + 'k' for x in salaries)}: the notes say {pts['salary']}")
    return err


def cut_off(text: str) -> bool:
    """Ends mid-sentence: no closing punctuation and not the decision word."""
    return not CUT_OFF_END.search(text.strip())


# ------------------------------------------------------------------ the rubric

def _accuracy(prompt: dict, text: str, framed: list[tuple[str, str]], notes: list[str]) -> tuple[float, dict, bool]:
    facts, cand, kind = prompt["facts"], prompt["candidate"], prompt["kind"]
    low = text.lower()
    held, required = set(cand["skills"]), set(prompt["job"]["required"])
    missing = required - held
    right_held = {s for s, f in framed if f == "held" and s in required & held}
    right_gap = {s for s, f in framed if f == "missing" and s in missing}
    if ALL_HELD.search(text) and not missing:
        right_held |= required
    if NONE_HELD.search(text) and not (required & held):
        right_gap |= required
    evidence = len(right_held | right_gap) / len(required)
    specific = [str(cand["years"]) in re.findall(r"\d+", text),
                str(cand["achievement_number"]) in re.findall(r"\d+", text) or cand["achievement_keyword"].lower() in low,
                cand["employer"].lower() in low or cand["current_title"].lower() in low]
    specificity = min(1.0, sum(specific) / 2)
    asked = {s for s, f in framed if f in ("asked", "missing", "held") and s in required}
    grounded = bool(right_held | right_gap | asked) or any(specific) or cand["name"].split()[0].lower() in low

    c = {"evidence": round(evidence, 4), "specificity": specificity}
    if kind == "assessment":
        said = decision_of(text)
        c["decision"] = float(said == facts["decision"])
        if said is None:
            notes.append("no clear advance/hold decision")
        elif said != facts["decision"]:
            notes.append(f"decision '{said}' but the screening rule gives '{facts['decision']}'")
        score = 0.5 * evidence + 0.2 * specificity + 0.3 * c["decision"] * (evidence > 0)   # a decision on no evidence: nothing
    elif kind == "followup":
        is_question = "?" in text
        about_gap = {s for s, f in framed if s in missing and f in ("missing", "asked")}
        about_held = {s for s, f in framed if s in required & held and f in ("held", "asked")}
        c["question"] = float(is_question)
        c["targets_skill_or_gap"] = float(bool(about_gap or about_held) and is_question)
        if not is_question:
            notes.append("no question asked")
        elif not c["targets_skill_or_gap"]:
            notes.append("the question is about no required skill or real gap")
        score = 0.3 * c["question"] + 0.5 * c["targets_skill_or_gap"] + 0.2 * specificity
    else:
        pts = facts["note_points"]
        checks = [bool(right_held & set(pts["skills"])) if pts["skills"] else None,
                  bool(right_gap & set(pts["gap"])) if pts["gap"] else None,
                  pts["notice"].split()[0] in re.findall(r"\d+", text) and "week" in low,
                  pts["mode"].lower() in low,
                  pts["salary"].lower() in low.replace(" ", "") or pts["salary"][:-1] + ",000" in low]
        checks = [x for x in checks if x is not None]
        c["coverage"] = round(sum(checks) / len(checks), 4)
        c["next_step"] = float(bool(NEXT_STEP.search(text)))
        grounded = grounded or c["coverage"] > 0
        score = 0.7 * c["coverage"] + 0.3 * c["next_step"] * (c["coverage"] > 0)
    return max(0.0, min(1.0, score)), c, grounded


def _tone(prompt: dict, text: str, grounded: bool, notes: list[str]) -> tuple[float, dict]:
    n = len(words(text))
    concise = length_score(n, LENGTH_BANDS[prompt["kind"]])
    problems = len(UNPROFESSIONAL.findall(text)) + len(EMOJI.findall(text))
    problems += max(0, text.count("!") - 1)
    problems += shouted(text)
    professional = max(0.0, 1 - 0.3 * problems)
    rep = repetition(text)
    c = {"words": float(n), "concise": concise, "professional": professional, "repetition": round(rep, 3)}
    if not grounded:
        notes.append("not about this candidate: no tone credit")
    if problems:
        notes.append(f"{problems} unprofessional or hype phrase(s)")
    score = (0.5 * concise + 0.5 * professional) * max(0.0, 1 - 2 * rep) * float(grounded)
    return score, c


def _policy(text: str, notes: list[str]) -> tuple[float, dict]:
    protected = sorted({m.lower() for m in PROTECTED.findall(text)})
    by_name = bool(NAME_JUDGEMENT.search(text))
    pronouns = bool(GENDERED_PRONOUN.search(text))
    c = {"protected_terms": float(len(protected)), "name_judgement": float(by_name), "gendered_pronouns": float(pronouns)}
    if protected or by_name:
        notes.append("refers to a protected attribute" + (f": {', '.join(protected)}" if protected else "")
                     + ("; judges from the name" if by_name else ""))
        return 0.0, c
    if pronouns:
        notes.append("assumes the candidate's gender (he/she)")
        return 0.5, c
    return 1.0, c


ERROR_NOTES = {"false_gaps": "calls held skills missing", "false_claims": "claims skills the candidate does not hold",
               "contradictions": "claims and denies", "misstatements": "misstates"}


def score(prompt: dict, response: str) -> RubricScore:
    """The gold recruiter's score of one response to one prompt, in [0, 1], with its reasons and the verdict
    `criteria["usable"]` (1.0: a recruiter would send it as it stands)."""
    text = (response or "").strip()
    if not text:
        return RubricScore(0.0, {k: 0.0 for k in WEIGHTS}, {"usable": 0.0}, ["empty response"])
    notes: list[str] = []
    framed = skill_mentions(not_skills(prompt, text))   # each skill named, and how: held, missing, asked, the job's
    acc, c_acc, grounded = _accuracy(prompt, text, framed, notes)
    tone, c_tone = _tone(prompt, text, grounded, notes)
    pol, c_pol = _policy(text, notes)
    errors = factual_errors(prompt, text, framed)
    for kind, items in errors.items():
        if items:
            notes.append(f"{ERROR_NOTES[kind]}: {'; '.join(items)}")
    n_errors = sum(len(v) for v in errors.values())
    dims = {"accuracy": round(acc, 4), "tone": round(tone, 4), "policy": pol}
    total = sum(WEIGHTS[k] * v for k, v in dims.items())
    if n_errors:
        total *= max(0.2, 0.5 - 0.1 * (n_errors - 1))
    wrong_decision = prompt["kind"] == "assessment" and not c_acc["decision"]
    if wrong_decision or (prompt["kind"] == "followup" and not c_acc["question"]):
        total *= 0.3   # the one thing the answer was asked to do, not done
    protected = bool(c_pol["protected_terms"] or c_pol["name_judgement"])
    if protected:
        total *= 0.5
    truncated = cut_off(text)
    if truncated:
        notes.append("cut off mid-sentence")
        total *= 0.7
    does_its_job = {"assessment": not wrong_decision, "followup": bool(c_acc.get("targets_skill_or_gap")),
                    "summary": c_acc.get("coverage", 0) >= 0.5 and bool(c_acc.get("next_step"))}[prompt["kind"]]
    readable = c_tone["concise"] >= 0.5 and c_tone["repetition"] < 0.2 and c_tone["professional"] == 1.0
    usable = grounded and does_its_job and readable and not n_errors and pol == 1.0 and not truncated
    criteria = {**c_acc, **c_tone, **c_pol, **{k: float(len(v)) for k, v in errors.items()},
                "factual_errors": float(n_errors), "cut_off": float(truncated), "usable": float(usable)}
    return RubricScore(round(total, 4), dims, criteria, notes)


def dealbreaker(s: RubricScore) -> str | None:
    """What makes an answer unsendable however it is written: a factual error, or an assessment's wrong decision."""
    return "a factual error" if s.criteria.get("factual_errors") else \
        "the wrong decision" if s.criteria.get("decision") == 0.0 else None
