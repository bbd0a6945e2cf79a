"""Predictions files: parquet round trip, column names, validation."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.labels import LABELS
from bench.predictions import COLUMNS, Predictions, PredictionsError, load_predictions, save_predictions


def _preds(n: int = 6) -> Predictions:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(n, 14))
    return Predictions(tuple(f"{i:08d}_000.png" for i in range(n)), np.arange(n) // 2, y, rng.random((n, 14)))


def test_round_trip_and_columns(tmp_path):
    p = _preds()
    path = save_predictions(tmp_path / "predictions.parquet", p)
    schema = pq.read_schema(path)
    assert schema.names == list(COLUMNS)
    assert schema.names[:4] == ["image_id", "patient_id", "true:Atelectasis", "true:Cardiomegaly"]
    assert schema.names[-1] == "score:Hernia" and len(schema.names) == 2 + 2 * len(LABELS)
    assert schema.field("true:Hernia").type == pa.uint8() and schema.field("score:Mass").type == pa.float32()
    q = load_predictions(path)
    assert q.image_ids == p.image_ids
    assert q.y_true.dtype == np.uint8 and q.scores.dtype == np.float32
    np.testing.assert_array_equal(q.patient_ids, p.patient_ids)
    np.testing.assert_array_equal(q.y_true, p.y_true)
    np.testing.assert_array_equal(q.scores, p.scores)
    assert [f.name for f in tmp_path.iterdir()] == ["predictions.parquet"]


def test_save_from_parts(tmp_path):
    p = _preds()
    path = save_predictions(tmp_path / "p.parquet", list(p.image_ids), p.patient_ids, p.y_true, p.scores)
    np.testing.assert_array_equal(load_predictions(path).scores, p.scores)


def test_columns_are_read_by_name(tmp_path):
    p = _preds()
    path = save_predictions(tmp_path / "p.parquet", p)
    table = pq.read_table(path)
    shuffled = table.select(list(reversed(table.column_names))).append_column("extra", pa.array(range(len(p))))
    pq.write_table(shuffled, path)
    q = load_predictions(path)
    np.testing.assert_array_equal(q.scores, p.scores)
    np.testing.assert_array_equal(q.y_true[:, 13], p.y_true[:, 13])


def test_bad_files_are_named(tmp_path):
    with pytest.raises(PredictionsError, match="predictions file not found"):
        load_predictions(tmp_path / "none.parquet")
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(PredictionsError, match="junk.parquet: not a readable parquet file"):
        load_predictions(junk)
    path = save_predictions(tmp_path / "p.parquet", _preds())
    pq.write_table(pq.read_table(path).drop_columns(["score:Hernia", "patient_id"]), path)
    with pytest.raises(PredictionsError, match="missing columns patient_id, score:Hernia"):
        load_predictions(path)


def test_validation():
    p = _preds()
    with pytest.raises(ValueError, match="finite"):
        Predictions(p.image_ids, p.patient_ids, p.y_true, np.full((6, 14), np.nan))
    with pytest.raises(ValueError, match="0 or 1"):
        Predictions(p.image_ids, p.patient_ids, p.y_true * 2, p.scores)
    with pytest.raises(ValueError, match="repeat an image id"):
        Predictions(p.image_ids[:5] + p.image_ids[:1], p.patient_ids, p.y_true, p.scores)
    with pytest.raises(ValueError, match=r"\(n, 14\)"):
        Predictions(p.image_ids, p.patient_ids, p.y_true[:, :13], p.scores)


def test_reindex_and_concat():
    p = _preds()
    r = p.reindex(reversed(p.image_ids))
    assert r.image_ids == tuple(reversed(p.image_ids))
    np.testing.assert_array_equal(r.scores, p.scores[::-1])
    with pytest.raises(KeyError, match="not in these predictions"):
        p.reindex(["x.png"])
    both = Predictions.concat([p.reindex(p.image_ids[:2]), p.reindex(p.image_ids[2:])])
    np.testing.assert_array_equal(both.y_true, p.y_true)
