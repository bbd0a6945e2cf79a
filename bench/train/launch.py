"""`bench run --nproc N`: the same command again in N processes on this machine, under torchrun."""

from __future__ import annotations

import logging
import signal

from bench.errors import BenchError
from bench.train.distributed import detect


def command_line(ctx, *, drop: tuple[str, ...] = ()) -> list[str]:
    """The options given on the command line of `ctx`'s command (a click context), as arguments
    again, those named in `drop` left out; defaults and environment variables reach the children
    anyway. Typer vendors its own click, so this reads the parameters by duck typing."""
    args: list[str] = [ctx.info_name]
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if param.name in drop or source is None or source.name != "COMMANDLINE":
            continue
        value = ctx.params[param.name]
        values = value if param.multiple else [value]
        if param.param_type_name != "option":
            args.extend(str(v) for v in values)
        elif param.is_flag:
            opts = param.opts if value else param.secondary_opts
            if opts:  # a plain flag left off is just not repeated
                args.append(long_flag(opts))
        else:
            for v in values:
                args += [long_flag(param.opts), str(v)]
    return args


def long_flag(opts: list[str]) -> str:
    """An option's long name (`--batch-size` of `-b/--batch-size`)."""
    return next((o for o in opts if o.startswith("--")), opts[0])


def launch(nproc: int, args: list[str]) -> int:
    """Run `python -m bench ARGS` in `nproc` processes as `torchrun --nproc-per-node NPROC` would,
    and return the exit code that tells how it ended."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    from bench.train.engine import EXIT_INTERRUPTED

    if nproc < 1:
        raise BenchError(f"--nproc must be at least 1, got {nproc}")
    if detect().parallel:
        raise BenchError("--nproc starts processes of its own", hint="under torchrun, leave --nproc out")
    # The launcher's log lines repeat, in many lines, what the ranks already said in one; its
    # modules' loggers each have a level of their own, so each is turned down.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    # torchrun's own code path (what `python -m torch.distributed.run` runs), called here so
    # that a failure comes back as the failing rank's exit code instead of a traceback.
    try:
        run(parse_args([f"--nproc-per-node={nproc}", "--module", "bench", *args]))
    except ChildFailedError as exc:
        return _exit_code({rank: failure.exitcode for rank, failure in exc.failures.items()})
    except SignalException:
        return EXIT_INTERRUPTED
    return 0


def _exit_code(codes: dict[int, int]) -> int:
    """The run's exit code from its failed ranks' (negative: killed by that signal). A rank
    killed from outside is news; SIGTERM is how the launcher stops the rest once one failed."""
    for rank, code in sorted(codes.items()):
        if code < 0 and -code != signal.SIGTERM:
            raise BenchError(f"rank {rank} was killed by {signal.Signals(-code).name}", exit_code=1)
    # Rank 0 reports for all; the others' codes matter when it was stopped before it could.
    return next((code for _, code in sorted(codes.items()) if code > 0), 1)
