# Loaded by every Python process started under `probe.py ddp` (PYTHONPATH points here): the
# processes a program spawns record the indices their loaders hand out.
import os

if os.environ.get("PIPELINE_PROBE_MODE") == "ddp" and os.environ.get("PIPELINE_PROBE_OUT"):
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import probe

    probe.child_hook()
