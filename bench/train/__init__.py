"""The training engine, one job a module: `plan` (what a run trains; torch-free), `device`
(placement and precision), `loop` (a stage's epochs), `evaluate` (scores of a list, models from
checkpoints) and `engine` (a run's life: record, signals, resume, test phase)."""
