"""The one atomic writer: whole or nothing, and no temporary left behind."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import bench.atomic as atomic
from bench.atomic import atomic_write, stray_temporaries


def _die_midway(fh):
    fh.write(b"half of the new content")
    raise RuntimeError("disk on fire")


@pytest.mark.parametrize("unnamed", [True, False], ids=["o_tmpfile", "named_temporary"])
def test_an_exception_midway_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch, unnamed):
    if not unnamed:
        monkeypatch.setattr(atomic, "_open_unnamed", lambda folder: None)
    target = tmp_path / "record.json"
    atomic_write(target, "old\n")
    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(target, _die_midway)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]


@pytest.mark.parametrize("data", ["text é\n", b"\x00\x01bytes", lambda fh: fh.write(b"callable")])
def test_writes_text_bytes_or_through_a_function(tmp_path, data):
    target = atomic_write(tmp_path / "f", data)
    expected = {str: "text é\n".encode(), bytes: b"\x00\x01bytes"}.get(type(data), b"callable")
    assert target.read_bytes() == expected
    assert stray_temporaries(tmp_path) == []


def test_a_process_killed_midway_keeps_the_old_file_and_no_temporary(tmp_path):
    probe = atomic._open_unnamed(tmp_path)
    if probe is None:
        pytest.skip("this file system has no O_TMPFILE: a killed writer can leave its named temporary")
    import os

    os.close(probe)
    target = tmp_path / "last.pt"
    atomic_write(target, b"epoch 3")
    code = textwrap.dedent(
        f"""
        import os
        from bench.atomic import atomic_write
        def die(fh):
            fh.write(b"epoch 4, half")
            fh.flush()
            os._exit(9)
        atomic_write({str(target)!r}, die)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], check=False)
    assert done.returncode == 9
    assert target.read_bytes() == b"epoch 3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_without_the_right_to_link_an_unnamed_file_the_content_is_copied(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_link_unnamed", lambda fd, name: False)
    target = atomic_write(tmp_path / "x", b"copied")
    assert target.read_bytes() == b"copied"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]
