"""cxr-bench: benchmark harness for thorax disease classifiers on NIH ChestX-ray14."""

__version__ = "0.1.0"
