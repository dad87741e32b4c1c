"""fit_problems names every reason a policy cannot drive a body."""

from __future__ import annotations

from robot.runtime.fit import fit_problems
from robot.specs import ArraySpec, BodySpec, PolicySpec

JOINTS = ("a", "b", "c")
BODY = BodySpec("arm", {"state": ArraySpec((3,), names=JOINTS), "images.front": ArraySpec((32, 32, 3), "uint8")},
                ArraySpec((3,), names=JOINTS), fps=30.0, action_low=(-1,) * 3, action_high=(1,) * 3)


def policy(obs, da=3, language=False):
    return PolicySpec(obs, da, n_obs_steps=2, horizon=8, n_action_steps=4, fps=30.0, uses_instruction=language)


def test_a_fitting_policy_has_no_problems():
    assert fit_problems(policy({"state": ArraySpec((3,), names=JOINTS)}), BODY) == []


def test_every_mismatch_is_named():
    spec = policy({"state": ArraySpec((3,), names=("a", "c", "b")), "images.front": ArraySpec((64, 64, 3), "uint8"),
                   "images.wrist": ArraySpec((32, 32, 3), "uint8")}, da=4, language=True)
    problems = fit_problems(spec, BODY)
    assert len(problems) == 5
    assert "action dim: the policy outputs 4 values per action, body 'arm' takes 3 (a, b, c)" in problems[0]
    assert "joint names of 'state': the policy expects ['a', 'c', 'b']" in problems[1]
    assert "observation 'images.front': the policy expects per-step shape (64, 64, 3)" in problems[2]
    assert "observation key 'images.wrist'" in problems[3]
    assert "language-conditioned" in problems[4]


def test_privileged_state_is_called_by_name_with_the_hint():
    spec = policy({"state": ArraySpec((5,), names=(*JOINTS, "cube_x", "cube_y"))})
    (problem,) = fit_problems(spec, BODY, privileged_hint="run it on the twin with privileged_state=true")
    assert "privileged state: the policy reads ['cube_x', 'cube_y']" in problem
    assert problem.endswith("run it on the twin with privileged_state=true")
