"""`robot data view`: stored episodes written as a rerun recording with the live view's entities."""

from __future__ import annotations

import numpy as np

from data import EpisodeStore
from robot.cli import main


def test_data_view_writes_the_stored_actions_and_states_to_an_rrd(tmp_path, capsys):
    store_path, rrd = tmp_path / "demos.zarr", tmp_path / "eps.rrd"
    assert main(["collect", "--task", "pusht", "--episodes", "2", "--out", str(store_path), "--no-progress",
                 "--max-steps", "12", "--keep-failed", "--max-attempts", "2", "--view", "none"]) in (0, 1)
    store = EpisodeStore.open(store_path, readonly=True)
    assert store.num_episodes == 2
    assert main(["data", "view", str(store_path), "--episode", "1", "--out", str(rrd)]) == 0
    assert f"{rrd}: 1 episode(s)" in capsys.readouterr().out
    import rerun.dataframe as rdf

    rec = rdf.load_recording(str(rrd))
    entities = {c.entity_path for c in rec.schema().component_columns()}
    assert {"/joints/pusher_x/measured", "/joints/block_angle/measured", "/joints/pusher_target_x/commanded",
            "/status", "/events"} <= entities
    col = "/joints/pusher_target_y/commanded"
    table = rec.view(index="tick", contents={col: ["rerun.components.Scalar"]}).select().read_all().to_pydict()
    stored = store.episode(1, ["action"])["action"][:, 1]
    assert table["tick"] == list(range(len(stored)))
    np.testing.assert_allclose([v[0] for v in table[f"{col}:Scalar"]], stored, rtol=1e-6)


def test_data_view_names_the_valid_range_for_a_wrong_episode(tmp_path, capsys):
    store_path = tmp_path / "demos.zarr"
    main(["collect", "--task", "pusht", "--episodes", "1", "--out", str(store_path), "--no-progress",
          "--max-steps", "5", "--keep-failed", "--max-attempts", "1", "--view", "none"])
    assert main(["data", "view", str(store_path), "--episode", "7", "--out", str(tmp_path / "x.rrd")]) == 2
    assert "it holds 1: 0-0" in capsys.readouterr().err
