"""MuJoCo tasks, assets, scripted experts, vectorized envs and renderers."""

from sim.registry import ENVS, EXPERTS, make_env, make_expert

__all__ = ["ENVS", "EXPERTS", "make_env", "make_expert"]
