"""Every benchmark figure that names a preset was measured with that preset as it is now.

A results JSON in benchmarks/results/ may name the pipeline preset (`preset` +
`overrides`) or policy preset (`policy_preset` + `policy_overrides`) it ran; it
must then carry the `config_hash` of that resolved config. The test recomputes
the hash from the current presets. A result whose hash is missing or differs is
stale: it must be listed under "## Stale results" in BENCHMARKS.md (with the
command that refreshes it), and a result listed there must really be stale, so
the list cannot rot either way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from policies.config import PolicyConfig
from policies.pipeline import config_hash, load_pipeline, resolve_preset
from robot.config import load_config

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT / "benchmarks" / "results").glob("*.json"))


def records(node, where=""):
    """(path in the JSON, dict) for every dict that names a preset."""
    if isinstance(node, dict):
        if "preset" in node or "policy_preset" in node:
            yield where or "/", node
        for key, value in node.items():
            yield from records(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from records(value, f"{where}/{i}")


def current_hash(record: dict) -> str:
    """The hash the record's preset and overrides resolve to today."""
    if "preset" in record:
        return config_hash(load_pipeline(record["preset"], record.get("overrides", [])))
    path = resolve_preset(record["policy_preset"], "policies")
    return config_hash(load_config(PolicyConfig, path, record.get("policy_overrides", [])))


def stale_problems(path: Path) -> list[str]:
    """Why the figures of one results file no longer match the current presets (empty: fresh)."""
    problems = []
    for where, record in records(json.loads(path.read_text())):
        name = record.get("preset") or record.get("policy_preset")
        if "config_hash" not in record:
            problems.append(f"{where}: preset {name!r} without config_hash (measured before hashes were kept)")
        elif record["config_hash"] != current_hash(record):
            problems.append(f"{where}: preset {name!r} hash {record['config_hash']} != current {current_hash(record)}")
    return problems


def listed_stale() -> set[str]:
    """Result file names listed under '## Stale results' in BENCHMARKS.md."""
    text = (ROOT / "BENCHMARKS.md").read_text()
    match = re.search(r"^## Stale results\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    return set(re.findall(r"benchmarks/results/([\w.-]+\.json)", match.group(1))) if match else set()


def test_some_results_name_their_preset():
    assert any(list(records(json.loads(p.read_text()))) for p in RESULTS)


@pytest.mark.parametrize("path", RESULTS, ids=[p.name for p in RESULTS])
def test_results_match_current_presets_or_are_listed_stale(path):
    problems = stale_problems(path)
    if path.name in listed_stale():
        assert problems, f"{path.name} is listed as stale in BENCHMARKS.md but matches the current presets"
    else:
        assert not problems, (f"{path.name} no longer matches the presets: {problems}; rerun its benchmark "
                              "or list it under '## Stale results' in BENCHMARKS.md with the command")


def test_hash_changes_with_the_config_and_ignores_the_data_path():
    base = load_pipeline("so101_lift_flow_privileged")
    assert config_hash(base) == config_hash(load_pipeline("so101_lift_flow_privileged", ["data.path=/elsewhere.zarr"]))
    assert config_hash(base) != config_hash(load_pipeline("so101_lift_flow_privileged", ["eval.settle_ticks=0"]))
    assert config_hash(base) != config_hash(load_pipeline("so101_lift_flow_privileged", ["policy.horizon=8"]))


def test_new_options_at_their_neutral_default_leave_the_hash_alone():
    """Adding an option must not stale every figure; using it must change the hash."""
    from policies.pipeline import HASH_NEUTRAL_DEFAULTS

    base = load_pipeline("so101_lift_flow_privileged")
    explicit = [f"policy.encoder.{k}={v}" for k, v in HASH_NEUTRAL_DEFAULTS.items() if k.startswith("image_")]
    assert config_hash(base) == config_hash(load_pipeline("so101_lift_flow_privileged", explicit))
    assert config_hash(base) != config_hash(load_pipeline("so101_lift_flow_privileged", ["policy.encoder.image_size=48"]))
