"""vidray: raw video to training data, and video models trained on it, at cluster scale on Ray."""

__version__ = "0.1.0"
