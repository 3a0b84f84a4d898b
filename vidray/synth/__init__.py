"""Synthetic video datasets: VideoMNIST (labelled moving digits) and classic Moving MNIST."""
