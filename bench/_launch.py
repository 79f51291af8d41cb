"""Run a Python script as `__main__` after setting the garbage collector's thresholds.

    python bench/_launch.py 100000:50:100 pipelines/shotgun_pipeline.py --page-size 500

For `bench/speed.py --ours-gc-threshold`: measures what a `gc.set_threshold` call at the top of the
CLI would save, without editing the CLI. The script sees its own path and arguments in `sys.argv`.
"""

import gc
import runpy
import sys

if __name__ == "__main__":
    gc.set_threshold(*(int(x) for x in sys.argv[1].split(":")))
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name="__main__")
