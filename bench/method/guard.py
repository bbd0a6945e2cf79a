"""A plugin's hooks fail in one line: the method, the hook, the plugin file and line, the exception.

`Method.__init_subclass__` wraps every hook a subclass defines. An exception escaping the hook
(other than a BenchError, which already speaks to the user) becomes a `HookError` that keeps
the original as its cause, so `bench --debug` can still print the full traceback.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any

from bench.errors import BenchError
from bench.labels import NUM_CLASSES

DEBUG_HINT = "run `bench --debug ...` for the traceback"


class HookError(BenchError):
    """An exception raised inside a plugin's hook, or a hook that returned the wrong thing."""


def where(func: Callable[..., Any], exc: BaseException | None = None) -> str:
    """ "FILE, line N": the deepest line of `exc`'s traceback in the file defining `func`
    (the hook's first line without an exception)."""
    code = func.__code__
    line = code.co_firstlineno
    if exc is not None:
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == code.co_filename and frame.lineno is not None:
                line = frame.lineno
    return f"{code.co_filename}, line {line}"


def guarded(hook: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` (a plugin's `hook`) with its failures as one-line HookErrors."""
    if getattr(func, "__bench_hook__", None) == hook:
        return func

    @functools.wraps(func)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = func(self, *args, **kwargs)
        except BenchError:
            raise
        except Exception as exc:  # a plugin's bug: name where it happened, keep the traceback as the cause
            detail = " ".join(str(exc).split())
            raise HookError(
                f"{hook} of method {self.name!r} ({where(func, exc)}) raised {type(exc).__name__}"
                + (f": {detail}" if detail else ""),
                hint=DEBUG_HINT,
            ) from exc
        check = RESULT_CHECKS.get(hook)
        problem = check(result, *args) if check is not None else None
        if problem:
            raise HookError(f"{hook} of method {self.name!r} ({where(func)}) {problem}")
        return result

    wrapper.__bench_hook__ = hook  # type: ignore[attr-defined]
    return wrapper


def _loss_result(result: Any, *args: Any) -> str | None:
    import torch

    if isinstance(result, torch.Tensor):
        if result.numel() != 1:
            return f"returned a tensor of shape {tuple(result.shape)}; it must return the batch's mean loss (0-dim)"
        return None
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        return None
    return f"returned {type(result).__name__}; it must return the batch's mean loss (a 0-dim tensor, or a float)"


def _module_result(what: str) -> Callable[..., str | None]:
    def check(result: Any, *args: Any) -> str | None:
        import torch

        if isinstance(result, torch.nn.Module):
            return None
        return f"returned {type(result).__name__}; it must return {what}"

    return check


def _optimizer_result(result: Any, *args: Any) -> str | None:
    if hasattr(result, "param_groups") and hasattr(result, "step"):
        return None
    return f"returned {type(result).__name__}; it must return a torch optimizer"


def _scheduler_result(result: Any, *args: Any) -> str | None:
    if all(hasattr(result, name) for name in ("step", "state_dict", "load_state_dict")):
        return None
    return f"returned {type(result).__name__}; it must return a learning-rate scheduler (step, state_dict)"


def _logits_result(result: Any, model: Any = None, x: Any = None, *args: Any) -> str | None:
    import torch

    want = (len(x), NUM_CLASSES) if x is not None else None
    if not isinstance(result, torch.Tensor):
        return f"returned {type(result).__name__}; it must return the batch's logits, a {want or '(B, 14)'} tensor"
    if want is not None and tuple(result.shape) != want:
        return (
            f"returned a tensor of shape {tuple(result.shape)} for a batch of {want[0]}; it must return {want} logits"
        )
    return None


# Each check gets the hook's result and its arguments; it returns what is wrong, or None.
RESULT_CHECKS: dict[str, Callable[..., str | None]] = {
    "build_model": _module_result("the model (a torch.nn.Module with 14 outputs)"),
    "build_loss": _module_result("the loss (a torch.nn.Module called as loss_fn(logits, targets))"),
    "build_optimizer": _optimizer_result,
    "build_scheduler": _scheduler_result,
    "train_step": _loss_result,
    "predict": _logits_result,
}
