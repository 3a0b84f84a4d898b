"""`ray job submit --working-dir . -- python ray_jobs/extract_patches.py CONFIG --output OUT [flags]`.

The same job as `vidray patches`; inside a Ray job it connects to that cluster. Video paths and
OUT must be on storage every node sees (NFS, a mounted bucket).
"""

import sys

from vidray.cli import main

if __name__ == "__main__":
    sys.exit(main(["patches", *sys.argv[1:]]))
