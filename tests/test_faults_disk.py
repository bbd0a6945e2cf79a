"""A full disk: one line naming the folder and the space needed, no temporary left, the record
at its last good state (failed when it can be written, else shown as stale), and a resume that
continues once space is freed. Faults are injected at the writes (ENOSPC, as the kernel says it);
one test fills a real tmpfs and runs only as root."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest
import torch
from faults_support import copy_run, trained_run
from typer.testing import CliRunner

import bench.atomic as atomic
import bench.records.store as store_module
from bench.atomic import DiskFull, atomic_write, size_text, stray_temporaries
from bench.cli import app
from bench.records import RunStore
from bench.train.checkpoint import RESUME_FILE

# Training and scoring on one torch thread: the machine is shared.
pytestmark = pytest.mark.usefixtures("one_thread")

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _full_after(n: int):
    def write(fh):
        fh.write(b"x" * n)
        raise ENOSPC

    return write


@pytest.mark.parametrize("unnamed", [True, False], ids=["o_tmpfile", "named_temporary"])
def test_a_full_disk_is_one_line_naming_the_folder_and_the_space(tmp_path, monkeypatch, unnamed):
    if not unnamed:
        monkeypatch.setattr(atomic, "_open_unnamed", lambda folder: None)
    target = tmp_path / "last.pt"
    atomic_write(target, b"o" * 5_000)
    with pytest.raises(DiskFull) as info:
        atomic_write(target, _full_after(1_200_000))  # more than the old file: the bytes written count
    line = info.value.one_line()
    assert line.startswith(f"no space left in {tmp_path} to write last.pt: it needs at least 1.2 MB, ")
    assert "free some space there" in line and info.value.exit_code == 1
    with pytest.raises(DiskFull, match=f"needs at least {size_text(5_000)}"):
        atomic_write(target, _full_after(10))  # less than the old file: its size counts
    assert target.read_bytes() == b"o" * 5_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_torch_errors_chained_on_a_full_disk_are_recognised():
    try:
        try:
            raise ENOSPC
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598") from None
    except RuntimeError as exc:
        assert atomic.no_space(exc)  # `from None` hides the context from tracebacks, not from __context__
    assert not atomic.no_space(RuntimeError("another error"))


@pytest.fixture
def tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder = tmp_path / "small"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], check=False).returncode:
        pytest.skip("this machine refuses to mount a tmpfs")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_torch_save_on_a_real_full_tmpfs(tmpfs):
    with pytest.raises(DiskFull, match=f"no space left in {tmpfs} to write last.pt"):
        atomic_write(tmpfs / "last.pt", lambda fh: torch.save({"w": torch.zeros(200_000)}, fh))
    assert list(tmpfs.iterdir()) == [] and stray_temporaries(tmpfs) == []


@pytest.fixture(scope="module")
def trained(demo_root, tmp_path_factory):
    return trained_run(demo_root, tmp_path_factory)


def _rewound(trained, results):
    """A copy of the run stopped before its only epoch: a resume trains it and writes last.pt."""
    record = copy_run(trained, results, status="interrupted", ended=None, history=())
    path = RunStore(results).run_dir(record.run_id) / RESUME_FILE
    state = torch.load(path, weights_only=True)
    state["state"] |= {"next_epoch": 0, "done": False, "best_auroc": -1.0, "best_epoch": -1}
    torch.save(state, path)
    return record


def _disk_full_at_last_pt(monkeypatch, *, records_too: bool = False):
    """torch.save of the resumable checkpoint (and, with `records_too`, every record written
    after it) meets a full disk."""
    real_save, real_write = torch.save, store_module.atomic_write
    full = {"now": False}

    def save(obj, fh, *args, **kwargs):
        if isinstance(obj, dict) and "optimizer" in obj:
            full["now"] = True
            fh.write(b"\0" * 4096)
            raise ENOSPC
        return real_save(obj, fh, *args, **kwargs)

    def write(path, data):
        if records_too and full["now"]:
            return real_write(path, _full_after(100))
        return real_write(path, data)

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(store_module, "atomic_write", write)


def test_a_full_disk_fails_the_run_at_its_last_good_state_and_a_resume_continues(trained, tmp_path, monkeypatch):
    record = _rewound(trained, tmp_path)
    store = RunStore(tmp_path)
    checkpoints = store.run_dir(record.run_id) / "checkpoints"
    _disk_full_at_last_pt(monkeypatch)
    result = _cli("run", "--resume", record.run_id, "--results", tmp_path, "-q")
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    line = " ".join(result.output.split())
    assert f"no space left in {checkpoints} to write last.pt: it needs at least" in line
    assert f"then continue with: bench run --resume {record.run_id}" in line
    assert stray_temporaries(checkpoints) == []
    failed = store.load(record.run_id)
    assert failed.status == "failed" and failed.error == line.removeprefix("error: ")
    assert failed.history == ()  # the epoch whose checkpoint was not written is not in the record
    monkeypatch.undo()  # space freed
    result = _cli("run", "--resume", record.run_id, "--results", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    done = store.load(record.run_id)
    assert done.status == "complete" and [(h.stage, h.epoch) for h in done.history] == [(0, 0)]


def test_a_record_that_cannot_be_written_shows_as_stale_and_resumes(trained, tmp_path, monkeypatch):
    record = _rewound(trained, tmp_path)
    store = RunStore(tmp_path)
    _disk_full_at_last_pt(monkeypatch, records_too=True)
    result = _cli("run", "--resume", record.run_id, "--results", tmp_path, "-q")
    assert result.exit_code == 1 and "no space left in" in result.output, result.output
    left = store.load(record.run_id)
    assert left.status == "running" and store.liveness(left) == "stale"  # nobody holds it: not a live run
    assert len(left.history) == 1  # the record ran ahead of the checkpoint by this epoch ...
    monkeypatch.undo()
    result = _cli("run", "--resume", record.run_id, "--results", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    done = store.load(record.run_id)  # ... which the resume trains again, once
    assert done.status == "complete" and [(h.stage, h.epoch) for h in done.history] == [(0, 0)]


def test_a_run_that_cannot_write_its_first_record_leaves_no_folder(tmp_path, monkeypatch):
    from record_factory import minimal_record

    monkeypatch.setattr(store_module, "atomic_write", lambda path, data: atomic.atomic_write(path, _full_after(10)))
    base = minimal_record()
    store = RunStore(tmp_path)
    with pytest.raises(DiskFull):
        store.create(
            method=base.method,
            split=base.split,
            dataset=base.dataset,
            seed=0,
            preset="smoke",
            device="cpu",
            environment=base.environment,
        )
    assert store.run_ids() == []
