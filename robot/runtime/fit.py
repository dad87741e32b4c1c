"""Does a policy fit a body? Checked before anything moves.

`fit_problems(policy_spec, body_spec)` lists every mismatch with what to do:
action dimension, observation keys and per-step shapes, joint names of the
state, privileged sim state the body lacks, a language-conditioned policy on a
body that gives no instruction. Empty list = the policy can drive the body.
"""

from __future__ import annotations

from robot import keys as K
from robot.specs import BodySpec, PolicySpec


def fit_problems(policy: PolicySpec, body: BodySpec, privileged_hint: str = "") -> list[str]:
    """Every reason `policy` cannot drive `body` (empty when it fits).

    privileged_hint: what the user can do when the policy reads privileged
      state (the twin: "--robot-opt privileged_state=true, sim only").
    """
    problems: list[str] = []
    da = int(body.action.shape[0])
    if policy.action_dim != da:
        problems.append(f"action dim: the policy outputs {policy.action_dim} values per action, body "
                        f"{body.name!r} takes {da} ({', '.join(body.action.names) or 'unnamed'})")
    for key, spec in policy.observations.items():
        have = body.observations.get(key)
        if have is None:
            problems.append(f"observation key {key!r}: the policy reads it, body {body.name!r} gives "
                            f"{sorted(body.observations)}")
            continue
        if key == K.STATE and spec.names and have.names and tuple(spec.names) != tuple(have.names):
            extra = [n for n in spec.names if n not in have.names]
            if extra and tuple(spec.names[: len(have.names)]) == tuple(have.names):
                hint = f"; {privileged_hint}" if privileged_hint else ""
                problems.append(f"privileged state: the policy reads {extra} in {key!r}, sim-only features "
                                f"that body {body.name!r} lacks (a real arm cannot observe them){hint}")
            else:
                problems.append(f"joint names of {key!r}: the policy expects {list(spec.names)}, body "
                                f"{body.name!r} has {list(have.names)}")
            continue
        if tuple(spec.shape) != tuple(have.shape):
            problems.append(f"observation {key!r}: the policy expects per-step shape {tuple(spec.shape)}, "
                            f"body {body.name!r} gives {tuple(have.shape)}")
    if policy.uses_instruction and not body.instructions:
        problems.append(f"the policy is language-conditioned but body {body.name!r} gives no instruction")
    return problems
