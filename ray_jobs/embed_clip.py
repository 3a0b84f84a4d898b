"""`ray job submit --working-dir . -- python ray_jobs/embed_clip.py INPUT --output OUT [flags]`.

The same job as `vidray embed`; inside a Ray job it connects to that cluster. Give INPUT's video
paths and OUT as absolute paths on storage every node sees (NFS, a mounted bucket).
"""

import sys

from vidray.cli import main

if __name__ == "__main__":
    sys.exit(main(["embed", *sys.argv[1:]]))
