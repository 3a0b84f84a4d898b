"""`ray job submit --working-dir . -- python ray_jobs/tune_losses.py --model convlstm --data DATA --storage DIR
--num-samples K`.

The same sweep as `vidray tune` (ASHA over the MSE/VGG loss weights, each trial a Ray Train
run); rerun the same command to resume an interrupted sweep. --data and --storage must be
on storage every node sees.
"""

import sys

from vidray.cli import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
