"""`python bench/_trace.py PIPELINES_DIR NAME`: a pipeline's last trace as one JSON line.

Step durations and their start/end (epoch seconds), read in a child so that `bench/speed.py` never
imports dlt: a child's `ru_maxrss` counts the parent's RSS at the moment it forked, so the parent
must stay small for the children's peaks to be their own.
"""

import json
import os
import sys

from dlt.pipeline.trace import load_trace

if __name__ == "__main__":
    trace = load_trace(os.path.join(sys.argv[1], sys.argv[2]))
    steps = [s for s in (trace.steps if trace else []) if s.finished_at]
    print(
        json.dumps(
            {
                "steps": {s.step: (s.finished_at - s.started_at).total_seconds() for s in steps},
                "spans": {s.step: (s.started_at.timestamp(), s.finished_at.timestamp()) for s in steps},
            }
        )
    )
