"""Entry of a benchmark child process: ``python -m benchmarks.child CONFIG RESULT`` (see world.py)."""

import importlib
import json
import os
import sys


def main() -> None:
    config_path, result_path = sys.argv[1], sys.argv[2]
    with open(config_path) as handle:
        config = json.load(handle)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    import django

    django.setup()
    from benchmarks.common import install_query_hooks

    install_query_hooks()
    module_name, function_name = config["task"].split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    profile_to = os.environ.get("CELLSV2_BENCH_PROFILE")
    if profile_to:  # pyinstrument over the whole task (python -m benchmarks profile ...)
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
        result = function(**config["params"])
        profiler.stop()
        with open(profile_to, "w") as handle:
            handle.write(profiler.output_text(unicode=False, color=False, show_all=False))
    else:
        result = function(**config["params"])
    with open(result_path, "w") as handle:
        json.dump(result if result is not None else {}, handle, default=str)
    from django.db import connections

    from cellsv2.cells import scatter_gather_shutdown

    scatter_gather_shutdown()
    connections.close_all()


if __name__ == "__main__":
    main()
