"""Training (Ray Train DDP) and loss-weight sweeps (Ray Tune) of the registered models."""
