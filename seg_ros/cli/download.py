"""segnet-download: fetch and verify jetson-inference networks of the registry into the model cache."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seg_ros import registry
from seg_ros.cli.entry import run_cli
from seg_ros.download import DEFAULT_TIMEOUT, MIRROR_ENV, download_network, is_installed
from seg_ros.errors import ModelError, SegRosError, one_line


def format_list(dest: Path | None) -> str:
    """One line per registry network: name, input size, classes, where it is installed, aliases."""
    rows = [f"{'network':<34} {'input':>9} {'classes':>7}  installed"]
    for net in registry.networks().values():
        if dest is not None:
            folder = Path(dest) / net.dir if is_installed(net, dest) else None
        else:
            folder = registry.network_folder(net)
        aliases = f"  (alias: {', '.join(net.aliases)})" if net.aliases else ""
        size = f"{net.input_size[0]}x{net.input_size[1]}"
        rows.append(f"{net.name:<34} {size:>9} {net.num_classes:>7}  {folder or '-'}{aliases}")
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segnet-download", description=__doc__,
        epilog=f"Archives are verified (ONNX loads, shapes and classes match the registry) and renamed into place "
               f"only when complete. {MIRROR_ENV}=BASE_URL is tried first when set. Default destination: "
               f"{registry.cache_dir()}. Exit status: 0 ok, 1 a download failed, 2 bad name, argument or installed "
               f"model folder.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="registry network names or aliases")
    parser.add_argument("--dest", type=Path, default=None, help="destination folder (default: the model cache)")
    parser.add_argument("--force", action="store_true", help="download again and replace an existing folder")
    parser.add_argument("--list", action="store_true", help="list registry networks and where they are installed")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="network timeout in seconds")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``segnet-download``; exit status as in ``seg_ros.cli.entry``."""
    return run_cli("segnet-download", _main, argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(format_list(args.dest))
    if not args.names:
        if not args.list:
            parser.error("name at least one network (see --list)")
        return 0
    nets = []
    for name in args.names:
        net = registry.find_network(name)
        if net is None:
            raise ModelError(f"unknown network {name!r}; known networks: {', '.join(registry.networks())}")
        nets.append(net)
    status = 0
    for net in nets:
        dest = args.dest or registry.cache_dir()
        present = is_installed(net, dest) and not args.force
        try:
            folder = download_network(net, dest, force=args.force, timeout=args.timeout)
        except SegRosError as exc:  # one line per network; the others are still tried
            print(f"segnet-download: error: {one_line(exc)}", file=sys.stderr)
            status = max(status, exc.exit_code)
            continue
        print(f"{net.name}: {'already present, verified' if present else 'downloaded and verified'}: {folder}")
    return status


if __name__ == "__main__":
    sys.exit(main())
