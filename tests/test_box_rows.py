"""A box row with a zero or negative width or height is refused in one line naming the row."""

from __future__ import annotations

import pytest
from test_nih_reader import BOXES, make_root

from bench.data.nih import BOX_FILE, load_index, read_boxes
from bench.errors import BenchError


@pytest.mark.parametrize("box", ["1,2,0,4", "1,2,3,-4", "1,2,-3,0", "1,2,inf,4"])
def test_flat_or_negative_box_is_refused_naming_its_row(tmp_path, box):
    path = tmp_path / BOX_FILE
    path.write_text(BOXES + f"00000002_000.png,Mass,{box}\n")
    with pytest.raises(BenchError) as err:
        read_boxes(path)
    text = err.value.one_line()
    assert "line 4 (00000002_000.png, Mass)" in text and "positive, finite width and height" in text
    assert str(path) in text and "\n" not in text


def test_good_boxes_load_and_a_bad_root_box_stops_the_index(tmp_path):
    assert len(read_boxes(make_root(tmp_path / "ok", boxes=BOXES) / BOX_FILE)) == 2
    root = make_root(tmp_path / "bad", boxes=BOXES + "00000002_000.png,Mass,1,2,3,0\n")
    with pytest.raises(BenchError, match="line 4 .* width 3 and height 0"):
        load_index(root)
