"""Split protocols: official, patient-wise k-fold, weng and custom lists."""
