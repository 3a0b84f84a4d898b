"""CLIP frame embeddings of videos: decode on CPU tasks, embed in an actor pool, write shards.

``inputs`` (video list, splits) → ``frames`` (streaming PyAV decode + sampling) →
``preprocess`` (open_clip's resize/crop/normalise, batched) → ``model`` (open_clip loading,
batched forward) → ``job`` (the Ray Data pipeline) → ``vidray.io.{webdataset,parquet}_shards``.
"""
