"""Torch CPU threads for the commands that run a network: one by default on CPU.

On the small CPU machines this stack is developed on, torch's default (one
thread per core) made `robot train` many times slower than one thread (issue
#11): small networks spend their time in OpenMP synchronisation, and any
second busy process makes the spinning threads share a core. One thread is the default of
`robot train`, `eval`, `demo` and `deploy` on CPU; `--threads N` (or
`--train.num_threads=N`) sets another. On CUDA torch's default is left alone.
"""

from __future__ import annotations

THREADS_HELP = ("torch CPU threads (default: 1 on CPU, where torch's own default of one per core is far "
                "slower for these small networks; torch's default on CUDA)")


def set_torch_threads(threads: int | None, device: str = "cpu") -> int:
    """Set torch's intra-op threads: `threads` if > 0, else 1 unless `device` runs on CUDA; returns the count."""
    import torch

    if threads is not None and threads > 0:
        torch.set_num_threads(threads)
    elif not _on_cuda(device, torch):
        torch.set_num_threads(1)
    return torch.get_num_threads()


def _on_cuda(device: str, torch) -> bool:  # noqa: ANN001 - the torch module
    if device == "auto":
        return bool(torch.cuda.is_available())
    return device.startswith("cuda")
