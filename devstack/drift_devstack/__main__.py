"""`python -m drift_devstack COMMAND [SERVICE...]`: start, stop and inspect a local Drift stack."""

from __future__ import annotations

import argparse
import sys

from .config import load_config
from .errors import StackError
from .follow import follow
from .process import stray_processes
from .stack import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drift-stack", description=__doc__)
    parser.add_argument("--state-dir", help="stack instance folder (default: $DRIFT_STACK_DIR or .dev)")
    parser.add_argument("command", choices=["up", "down", "restart", "status", "env", "follow", "check-stopped"])
    parser.add_argument("services", nargs="*", help="services or groups (kube, hbase); default: all")
    parser.add_argument("--purge", action="store_true", help="with down: also delete the stack's data and logs")
    args = parser.parse_args(argv)
    try:
        stack = Stack(load_config(args.state_dir))
        if args.command == "up":
            stack.up(args.services)
        elif args.command == "down":
            stack.down(args.services)
            if args.purge:
                stack.purge()
        elif args.command == "restart":
            stack.down(args.services or None)
            stack.up(args.services)
        elif args.command == "status":
            for name, pid in stack.status().items():
                print(f"{name:<15} {'running, pid ' + str(pid) if pid else 'stopped'}")
        elif args.command == "follow":
            follow(stack)
        elif args.command == "check-stopped":
            strays = stray_processes(f"{stack.config.data_dir}/")
            for pid, cmdline in strays:
                print(f"stray process {pid}: {cmdline}", file=sys.stderr)
            if strays:
                raise StackError(f"{len(strays)} process(es) of the stack in {stack.config.state_dir} still run")
        else:
            print(stack.config.env_file)
    except (StackError, ValueError) as exc:
        print(f"drift-stack: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
