"""Datasets: the NIH ChestX-ray14 layout reader, image decoding and the synthetic demo."""
