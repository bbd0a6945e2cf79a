"""Models trained elsewhere, scored like cxr-bench's own runs.

- `submission`: a scores file (CSV or parquet) read and checked against a test list;
- `target`: the split's test list, with labels and patients from the dataset index, and what
  the lists a model declares it was trained on share with it;
- `runs`: the scores as a run record of kind `external`, through the trained runs' test phase;
- `score`: `bench score`; `weights` and `inference`: `bench eval` (a checkpoint, no training).
"""
