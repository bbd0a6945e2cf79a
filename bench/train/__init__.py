"""The training engine: stages, epochs, checkpoints, resume, evaluation."""
