"""Turning a video's name into the file-name-safe form every stage uses in its output names."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def clean_name(name: str, trim: str = "_", fallback: str = "video") -> str:
    """``name`` with runs of characters other than ``[A-Za-z0-9._-]`` replaced by ``_``, then ``trim``
    characters stripped from both ends (``"My Film (2019)"`` → ``"My_Film_2019"``).

    The patch job keeps the default (its users' folder and file names depend on it); the embed job
    passes ``trim="_."`` so that no sample name is hidden (``.name``) or ends in a dot.
    """
    return _UNSAFE.sub("_", name.strip()).strip(trim) or fallback
