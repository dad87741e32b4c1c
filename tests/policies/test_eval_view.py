"""`evaluate(..., observers=...)`: a live view of env 0, in real time, without changing the results."""

from __future__ import annotations

import io

from test_eval import tiny_policy  # sibling test module

from policies.eval import EvalConfig, evaluate
from robot.runtime.rerun_log import RerunLogger, open_recording
from robot.runtime.status import StatusLine
from sim.registry import make_env


def test_eval_feeds_the_live_view_of_env_0_and_keeps_its_results(tmp_path):
    env = make_env("pusht")
    policy = tiny_policy(env)
    cfg = EvalConfig(episodes=2, n_envs=2, max_steps=6, seed=3)
    plain = evaluate(policy, "pusht", cfg, progress=False)
    out = io.StringIO()
    logger = RerunLogger(open_recording(save=tmp_path / "eval.rrd"), env.body_spec)
    status = StatusLine(total=2, body_spec=env.body_spec, stream=out, tty=False)
    viewed = evaluate(policy, "pusht", cfg, progress=False, observers=[logger, status])
    logger.close()
    assert viewed["per_episode"] == plain["per_episode"]  # watching does not change the evaluation
    assert out.getvalue().splitlines() == ["[ep 1/2] episode started (seed 3): policy",
                                           "[ep 1/2] time limit reached (6 ticks) (not a success)"]
    import rerun.dataframe as rdf

    rec = rdf.load_recording(str(tmp_path / "eval.rrd"))
    view = rec.view(index="tick", contents={"/joints/pusher_target_x/commanded": ["rerun.components.Scalar"]})
    assert view.select().read_all().to_pydict()["tick"] == [0, 1, 2, 3, 4, 5]
    # Real time at PushT's 10 Hz: 6 ticks take about 0.6 s (5 periods between them).
    times = rec.view(index="time", contents={"/joints/pusher_target_x/commanded": ["rerun.components.Scalar"]})
    stamps = times.select().read_all().to_pydict()["time"]
    assert (stamps[-1] - stamps[0]).total_seconds() >= 0.45


def test_robot_eval_view_rerun_streams_env_0_and_flag_mistakes_exit_2(tmp_path, capsys):
    from policies.checkpoint import save_policy
    from robot.cli import main

    ckpt = save_policy(tiny_policy(make_env("pusht")), tmp_path / "ckpt")
    base = ["eval", "--checkpoint", str(ckpt), "--task", "pusht", "--episodes", "1", "--envs", "1",
            "--max-steps", "4", "--out", str(tmp_path / "eval")]
    assert main([*base, "--view", "rerun"]) == 2
    assert "--view rerun needs a destination" in capsys.readouterr().err
    rrd = tmp_path / "watch.rrd"
    assert main([*base, "--rerun-save", str(rrd)]) == 0
    assert "[ep 1/1] time limit reached (4 ticks) (not a success)" in capsys.readouterr().err
    import rerun.dataframe as rdf

    entities = {c.entity_path for c in rdf.load_recording(str(rrd)).schema().component_columns()}
    assert {"/joints/pusher_x/measured", "/joints/pusher_target_x/commanded", "/events", "/status"} <= entities
