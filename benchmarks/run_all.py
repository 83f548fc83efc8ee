"""`make bench`: run every benchmark in this folder in turn with its defaults (each prints its own figures).

Each module has ``main(argv: list[str] | None = None)``; ../shared is found through ``SEG_ROS_SHARED``.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

ORDER = ["bench_pipeline", "bench_render", "bench_grid", "bench_node", "bench_precision", "bench_tensorrt"]


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = []
    for name in ORDER:
        path = here / f"{name}.py"
        if not path.is_file():
            continue
        print(f"==== {name} ====", flush=True)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        start = time.perf_counter()
        try:
            spec.loader.exec_module(module)
            module.main([])
        except SystemExit as exc:
            if exc.code not in (0, None):
                failed.append(name)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other benchmarks
            print(f"{name} failed: {exc!r}")
            failed.append(name)
        print(f"({name}: {time.perf_counter() - start:.0f} s)\n", flush=True)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
