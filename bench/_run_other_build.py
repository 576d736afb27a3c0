"""Runs a bench script against another checkout's package (argv[1]: its python/ folder, with
its _core built into python/cachette/), bypassing the editable install's import hook.

    .venv/bin/python bench/_run_other_build.py OLD/python bench/bench_facade_hot_path.py redis URL
"""

import runpy
import sys

root = sys.argv[1]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__]
sys.path.insert(0, root)
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
