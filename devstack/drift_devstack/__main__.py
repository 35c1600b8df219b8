"""`python -m drift_devstack COMMAND [SERVICE...]`: start, stop and inspect a local Drift stack."""

from __future__ import annotations

import argparse
import sys
import time

from . import images, node, toolchain
from .config import load_config
from .errors import StackError
from .follow import follow
from .process import stray_processes
from .stack import Stack


def _down(stack: Stack, args: argparse.Namespace) -> None:
    stack.down(args.services)
    if args.purge:
        stack.purge()


def _restart(stack: Stack, args: argparse.Namespace) -> None:
    stack.down(args.services or None)
    stack.up(args.services)


def _status(stack: Stack, args: argparse.Namespace) -> None:
    for name, pid in stack.status().items():
        print(f"{name:<15} {'running, pid ' + str(pid) if pid else 'stopped'}")


def _check_stopped(stack: Stack, args: argparse.Namespace) -> None:
    strays = stray_processes(stack.config.state_dir)
    for pid, cmdline in strays:
        print(f"stray process {pid}: {cmdline}", file=sys.stderr)
    if strays:
        raise StackError(f"{len(strays)} process(es) of the stack in {stack.config.state_dir} still run")
    left = node.leftovers(stack.config)
    for item in left:
        print(f"left behind: {item}", file=sys.stderr)
    if left:
        raise StackError(f"the node of the stack in {stack.config.state_dir} left {len(left)} thing(s) behind")


def _images(stack: Stack, args: argparse.Namespace) -> None:
    images.build(stack.config, stack.config.images_dir)


def _load_images(stack: Stack, args: argparse.Namespace) -> None:
    for archive in sorted(stack.config.images_dir.glob("*.tar")):
        began = time.monotonic()
        node.import_image(stack.config, archive)
        print(f"  loaded {archive.name} into the node in {time.monotonic() - began:.0f}s", flush=True)


COMMANDS = {
    "up": lambda stack, args: stack.up(args.services),
    "down": _down,
    "kill": lambda stack, args: stack.kill(args.services),
    "restart": _restart,
    "status": _status,
    "env": lambda stack, args: print(stack.config.env_file),
    "follow": lambda stack, args: follow(stack),
    "check-stopped": _check_stopped,
    "helm-path": lambda stack, args: print(toolchain.helm(stack.config)),
    "images": _images,
    "load-images": _load_images,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drift-stack", description=__doc__)
    parser.add_argument("--state-dir", help="stack instance folder (default: $DRIFT_STACK_DIR or .dev)")
    parser.add_argument("command", choices=list(COMMANDS))
    parser.add_argument("services", nargs="*", help="services or groups (kube, hbase); default: all")
    parser.add_argument("--purge", action="store_true", help="with down: also delete the stack's data and logs")
    args = parser.parse_args(argv)
    try:
        COMMANDS[args.command](Stack(load_config(args.state_dir)), args)
    except (StackError, ValueError) as exc:
        print(f"drift-stack: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
