"""Run the benchmark: ``python bench/run.py [--quick] [--profile DIR]`` (see bench/README.md)."""

import runpy
import sys
from pathlib import Path

# Run as a script, this file's folder is on the import path but the repository is not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
runpy.run_module("bench.harness", run_name="__main__")
