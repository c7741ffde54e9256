"""The `edge-agent` console script's entry point: it imports the CLI only when called.

multiprocessing's spawn start method re-runs the parent's main script in every child it
starts (the vision process) under the name `__mp_main__`. The script pip writes imports
its entry point's module at the top, so that module must stay light: with `agent.cli`
there, the vision child carried about 15 MiB of modules it never uses
(benchmarks/bench_vision_pipeline.py).
"""

from __future__ import annotations


def main() -> int:
    """Run the command line."""
    from agent.cli import main as run  # noqa: PLC0415 (kept out of spawned children)

    return run()
