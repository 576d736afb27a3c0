"""Runs a bench script against another checkout's package (argv[1]: its python/ folder, with
its _core built into python/cachette/), bypassing the editable install's import hook.

    .venv/bin/python bench/_run_other_build.py OLD/python bench/bench_facade_hot_path.py redis URL
    .venv/bin/python bench/_run_other_build.py OLD/python -m uvicorn MODULE:APP ...
"""

import runpy
import sys

root = sys.argv[1]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__]
sys.path.insert(0, root)
if sys.argv[2] == "-m":  # a module, as `python -m` runs it (uvicorn: the server, in process)
    sys.argv = sys.argv[3:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name="__main__")
