"""Policies: observation encoders, generative heads (diffusion, flow), the VLA-style
model, the policy class, its factory and checkpoints; training lives in
`policies/train.py` and friends.

Import the submodules directly (`from policies.registry import make_policy`);
this package file stays empty of imports so `import policies` is cheap.
"""
