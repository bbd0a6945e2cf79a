"""Lookahead whose slow-weight update runs as multi-tensor operations."""

from __future__ import annotations

import torch
from timm.optim import Lookahead


class ForeachLookahead(Lookahead):
    """timm's Lookahead with the slow-weight update as three multi-tensor operations rather than
    three per parameter. The arithmetic and its order are timm's, so the weights are
    bit-identical; on CUDA the update every k steps is a few kernel launches instead of about a
    thousand for EfficientNet-B3. State and state_dict keys are timm's, so checkpoints load in either."""

    @torch.no_grad()
    def update_slow(self, group: dict) -> None:
        fast = [p for p in group["params"] if p.grad is not None]
        if not fast:
            return
        states = [self._base_optimizer.state[p] for p in fast]
        for param, state in zip(fast, states):
            if "lookahead_slow_buff" not in state:
                state["lookahead_slow_buff"] = param.detach().clone()
        slow = [state["lookahead_slow_buff"] for state in states]
        torch._foreach_add_(slow, torch._foreach_sub(fast, slow), alpha=group["lookahead_alpha"])
        torch._foreach_copy_(fast, slow)
