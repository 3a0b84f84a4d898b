"""`ray job submit --working-dir . -- python ray_jobs/train.py --model convlstm --data DATA --storage DIR [flags]`.

The same job as `vidray train`; inside a Ray job it connects to that cluster. Give --data and
--storage as paths every node sees (NFS, a mounted bucket): workers read the data there and
Ray Train writes checkpoints there, so a restarted worker on another node can resume.
"""

import sys

from vidray.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
