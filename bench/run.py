"""Run the benchmarks: `python -m bench.run [--small|--full] [--only B1,B2,...]`.

--small (the default, `make bench`) finishes in about two minutes; --full uses the issue's sizes
(a million executions for B4, 100,000 for B5) and takes much longer. Needs PostgreSQL and Redis
(see bench/README.md); nothing here runs in the test suite.
"""
import argparse
import importlib
import json
import logging
import time

from bench import common

BENCHMARKS = {
    "B1": "bench.b1_throughput",
    "B2": "bench.b2_latency",
    "B3": "bench.b3_dispatch",
    "B4": "bench.b4_pages",
    "B5": "bench.b5_memory",
    "B6": "bench.b6_fan_out",
    "B6E": "bench.b6_end_to_end",  # issue #24's end-to-end B6 (gunicorn, both modes; ~8 min): only with --only
}
DEFAULT = [name for name in BENCHMARKS if name != "B6E"]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--small", dest="size", action="store_const", const="small", help="small sizes (default)")
    size.add_argument("--full", dest="size", action="store_const", const="full", help="the issue's sizes")
    parser.add_argument("--only", default="", help="comma-separated subset, e.g. B1,B3")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args(argv)
    chosen = [name.strip().upper() for name in args.only.split(",") if name.strip()] or DEFAULT
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    size = args.size or "small"

    logging.basicConfig(level=logging.WARNING)
    info = common.machine()
    print(f"Workestra benchmarks ({size}) at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}: commit {info['commit']}, "
          f"{info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, load average {info['loadavg']}")
    print(f"memory: {info['memory']}")
    results, context = {"machine": info, "size": size}, {}
    began = time.perf_counter()
    for name in chosen:
        module = importlib.import_module(BENCHMARKS[name])
        started = time.perf_counter()
        results[name] = module.run(size, context) if name == "B2" else module.run(size)
        if name == "B1":
            context["peak"] = results[name]["peak"]
        print(f"  ({name} took {time.perf_counter() - started:.0f} s)")
    print(f"\nAll done in {time.perf_counter() - began:.0f} s")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2, default=str)
    return results


if __name__ == "__main__":
    main()
