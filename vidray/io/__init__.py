"""Formats shared by the stages: atomic writes, MP4 video, HDF5, manifests."""
