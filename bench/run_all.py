"""`make bench`: every benchmark in turn, each printing its own figures."""

import importlib
import sys

BENCHMARKS = [
    "auth_throughput",
    "campaign_detail",
    "campaign_delete",
    "leads_list",
    "lead_import",
    "analytics",
    "send_throughput",
    "tracking",
    "noisy_neighbour",
    "inbox_memory",
    "recovery",
    "classifier",
    "dsn_corpus",
    "webhooks",
]


def main() -> None:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== bench.{name}", flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError:
            print("(not present)")
            continue
        sys.argv = [f"bench.{name}"]
        try:
            module.main()
        except Exception as error:  # report it and go on to the next benchmark
            print(f"FAILED: {error!r}")
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
