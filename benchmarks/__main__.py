"""``python -m benchmarks run [--quick] [--db sqlite|postgres] [--only NAME...] [--nova FILE]
[--nova-storm FILE] [--out DIR]``
and ``python -m benchmarks report DIR`` (redraw a finished run's table and chart)."""

import argparse
import sys

from benchmarks.runner import PIECES, rerender, run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the benchmarks (ours and the baselines, one run)")
    p.add_argument("--quick", action="store_true", help="small sizes, a few minutes: for building and debugging")
    p.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="database of the API pieces (api, show, load, consoles); default sqlite as the Nova anchor",
    )
    p.add_argument("--only", nargs="+", metavar="NAME", help=f"pieces to run: {', '.join(PIECES)}")
    p.add_argument(
        "--nova",
        help="the anchor's nova_eventlet.json of this run (default: the newest under /tmp/nova-anchor/results)",
    )
    p.add_argument(
        "--nova-storm",
        dest="nova_storm",
        help="the Nova storm's JSON for the boot_storm piece (default: run benchmarks/nova_storm.py in "
        "/tmp/nova-anchor/venv first, when both exist)",
    )
    p.add_argument("--out", help="output directory (default benchmarks/results/<stamp>)")
    r = sub.add_parser("report", help="redraw the table and chart of a finished run from its results.json")
    r.add_argument("directory")
    args = parser.parse_args(argv)
    if args.command == "report":
        return rerender(args.directory)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
