"""Seeds derived per (stage, epoch, purpose), so a resumed run replays the same randomness.

torch is imported only where it is seeded: the run plan (torch-free) derives --limit's sample here.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

PURPOSES = {"order": 0, "flip": 1, "torch": 2, "init": 3}


def derive_seed(seed: int, *keys: int | str) -> int:
    """A 63-bit seed from the run seed and any keys (stage, epoch, purpose name)."""
    entropy = [int(seed)] + [PURPOSES[k] if isinstance(k, str) else int(k) for k in keys]
    return int(np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32).view(np.uint64)[0] >> 1)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def torch_generator(seed: int) -> torch.Generator:
    import torch

    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen
