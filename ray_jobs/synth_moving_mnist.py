"""`ray job submit --working-dir . -- python ray_jobs/synth_moving_mnist.py OUT [flags]`.

The same job as `vidray synth moving-mnist`; inside a Ray job it connects to that cluster.
Give OUT as an absolute path on storage every node sees (NFS, a mounted bucket).
"""

import sys

from vidray.cli import main

if __name__ == "__main__":
    sys.exit(main(["synth", "moving-mnist", *sys.argv[1:]]))
