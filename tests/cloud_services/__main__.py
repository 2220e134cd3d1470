"""python -m tests.cloud_services build|clear [keystone|glance]: manage the cached service venvs."""

import argparse
import sys

from . import venvs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cloud_services", description=__doc__)
    parser.add_argument("action", choices=("build", "clear"))
    parser.add_argument("service", nargs="?", choices=venvs.SERVICES, help="one service (default: all)")
    args = parser.parse_args(argv)
    names = (args.service,) if args.service else venvs.SERVICES

    if args.action == "clear":
        removed = venvs.clear(args.service)
        for path in removed:
            print(f"removed {path}")
        if not removed:
            print(f"no cached venvs in {venvs.cache_root()}")
        return 0

    for name in names:
        try:
            path = venvs.ensure_venv(name)
        except venvs.VenvUnavailable as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        info = venvs.venv_info(path)
        print(
            f"{name}: {path} (Python {info.get('python_version', '?')}, built in {info.get('build_seconds', '?')} s"
            f" on {info.get('built_at', '?')}, {info.get('size_bytes', 0) / 2**20:.0f} MiB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
