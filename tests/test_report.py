"""metrics.json is merged, never clobbered, and stages record time and memory."""

import pytest

from helpers import report


def test_update_deep_merges(tmp_path):
    path = tmp_path / "metrics.json"
    report.update(path, {"profile": "cpu", "stages": {"00_setup": {"seconds": 1.0}}})
    data = report.update(path, {"stages": {"01_annotate": {"seconds": 2.0}}})
    assert data == {"profile": "cpu", "stages": {"00_setup": {"seconds": 1.0}, "01_annotate": {"seconds": 2.0}}}
    assert report.get(report.read(path), "stages.01_annotate.seconds") == 2.0
    with pytest.raises(KeyError, match="stages.02_reward_model"):
        report.get(data, "stages.02_reward_model.seconds")


def test_stage_records_seconds_and_peak_memory(tmp_path):
    path = tmp_path / "metrics.json"
    stage = report.Stage("00_setup", path)
    block = bytearray(64 * 2**20)  # touch 64 MB so the peak is visibly above it
    block[::4096] = b"x" * len(block[::4096])
    entry = stage.finish()
    assert entry["seconds"] >= 0 and entry["peak_mem_mb"] >= 64
    assert report.read(path)["stages"]["00_setup"]["peak_mem_mb"] == entry["peak_mem_mb"]
