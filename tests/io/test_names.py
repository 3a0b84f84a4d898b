"""One name cleaner for every stage: the patch job's seed-compatible names and the embed job's sample names."""

from vidray.embed.inputs import safe_name
from vidray.io.names import clean_name
from vidray.patches.config import clean_name as patches_clean_name
from vidray.patches.layout import patch_file_name


def test_patch_names_keep_their_form():
    """Users' existing output names must not change: runs of unsafe characters → ``_``, ends trimmed of ``_``."""
    assert patches_clean_name is clean_name
    assert clean_name("My Film (2019)") == "My_Film_2019"
    assert clean_name("  Planet Earth: S01E01 ") == "Planet_Earth_S01E01"
    assert clean_name("film.v2-final") == "film.v2-final"
    assert clean_name(".hidden.") == ".hidden."  # the patch job keeps dots (its names are inside patch_..._idx)
    assert clean_name("???") == "video"
    assert patch_file_name(clean_name("My Film (2019)"), 42, "fullhd") == "patch_My_Film_2019_idx0042_fullhd.png"


def test_embed_sample_names_also_trim_dots():
    assert safe_name("My Film (2019)") == "My_Film_2019"
    assert safe_name(".hidden.") == "hidden"
    assert safe_name("clip..") == "clip" and safe_name("..") == "video"
    assert safe_name("a.b") == "a.b"


def test_unicode_letters_become_underscores():
    assert clean_name("Ünïcode ñame") == "n_code_ame"
    assert safe_name("Ünïcode ñame") == "n_code_ame"
