"""The `robot collect` line in each preset's header records a store that passes the preset's preflight.

A preset's header comment tells the user how to record its data; if that line
and the preset drift apart, `robot train` stops at its preflight. Each line is
run for real (`robot collect`, in-process, one scripted episode), then
`check_store` runs against the preset.
"""

from __future__ import annotations

import re
import shlex

import pytest

from data import EpisodeStore
from policies.pipeline import CONFIG_DIR, load_pipeline
from policies.preflight import check_store
from robot.cli import main


def collect_line(name: str) -> list[str] | None:
    """argv (after `robot`) of the first `robot collect` line in the preset's header comment, or None."""
    header = []
    for line in (CONFIG_DIR / "pipelines" / f"{name}.yaml").read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("#").strip())
    text = re.sub(r"\\\s*\n\s*", " ", "\n".join(header))
    match = re.search(r"^robot (collect .*)$", text, re.M)
    return shlex.split(match.group(1)) if match else None


PRESETS = sorted(p.stem for p in (CONFIG_DIR / "pipelines").glob("*.yaml"))
WITH_LINE = [n for n in PRESETS if collect_line(n)]


def test_the_deployable_presets_and_their_controls_say_how_to_collect():
    for name in ("so101_place_flow", "so101_place_flow_privileged", "peg_insert_flow", "peg_insert_flow_privileged",
                 "pusht_flow_image", "pusht_flow"):
        assert name in WITH_LINE, f"{name}.yaml has no `robot collect` line in its header"


@pytest.mark.parametrize("name", WITH_LINE)
def test_the_header_collect_line_records_a_store_that_fits(name, tmp_path, capsys):
    argv = collect_line(name)
    out = tmp_path / "store.zarr"
    argv[argv.index("--episodes") + 1] = "1"
    argv[argv.index("--out") + 1] = str(out)
    assert main([*argv, "--no-progress"]) == 0, capsys.readouterr().err
    cfg = load_pipeline(name, [f"data.path={out}"])
    check_store(EpisodeStore.open(out, readonly=True), cfg)  # raises PreflightError on a mismatch
