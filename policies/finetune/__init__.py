"""RL fine-tuning of a frozen policy: residual PPO and latent-noise steering (DSRL)."""
