"""A training batch of one image: a last batch of one is left out of each epoch (and recorded);
a batch size of 1 with a BatchNorm model is refused in one line before anything is written."""

from __future__ import annotations

import pytest
from faults_support import LIMIT, trained_run
from typer.testing import CliRunner

from bench.cli import app
from bench.records import RunStore
from bench.train.batches import trained_count

# Training and scoring on one torch thread: the machine is shared.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(
    ("n", "batch", "kept"), [(41, 8, 40), (40, 8, 40), (9, 8, 8), (17, 8, 16), (15, 8, 15), (1, 8, 1), (5, 1, 5)]
)
def test_only_a_last_batch_of_one_image_is_left_out(n, batch, kept):
    assert trained_count(n, batch) == kept


def test_a_run_whose_last_batch_holds_one_image_trains_and_records_it(demo_root, tmp_path_factory):
    results, run_id = trained_run(demo_root, tmp_path_factory)  # 41 training images, batches of 8
    assert LIMIT % 8 == 1
    record = RunStore(results).load(run_id)
    assert record.status == "complete", record.error
    (stage,) = record.stages
    assert (stage.batch_size, stage.epochs_run, stage.train_dropped) == (8, 1, 1)


def test_batch_size_one_with_batchnorm_is_refused_before_a_record(demo_root, tmp_path):
    result = CliRunner().invoke(
        app,
        ["run", "--method", "chexnet", "--data", str(demo_root), "--results", str(tmp_path), "--preset", "smoke"]
        + ["--limit", "20", "--batch-size", "1", "--no-pretrained", "-q"],
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "stage 1 would train densenet121 on batches of one image" in lines[0]
    assert "BatchNorm" in lines[0] and "--batch-size 2 or more" in lines[0]
    assert RunStore(tmp_path).run_ids() == []
