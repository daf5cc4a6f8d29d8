"""Requests/s of authenticated `GET /api/public/v1/me` against an unauthenticated view doing one
indexed query, both served by gunicorn in one run, and the queries `me` costs once warm.

Target (issue 2): authenticated >= 90% of the baseline's throughput; <= 1 query per request.
Target (issue 5): the rate limiter and idempotency check cost <= 5% of `me` throughput: the same
run serves `me` once more from a server without them (BENCH_GUARDS=off) and compares.
Usage: python -m bench.auth_throughput [--seconds 10] [--sqlite]"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys

from bench.server import (
    base_env,
    create_key,
    gunicorn,
    manage,
    postgres_database,
    sqlite_database,
)

WRK_RE = re.compile(r"Requests/sec:\s+([\d.]+)")


def wrk(url: str, seconds: int, key: str | None) -> float:
    cmd = ["wrk", "-t2", "-c16", f"-d{seconds}s", url]
    if key:
        cmd[1:1] = ["-H", f"X-API-Key: {key}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{url}: {non2xx.group(1)} non-2xx responses\n{out}")
    return float(WRK_RE.search(out).group(1))


IN_PROCESS = """
import os, time, django
django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
client = Client(HTTP_HOST="localhost", HTTP_X_API_KEY=os.environ["BENCH_KEY"])
path = os.environ["BENCH_PATH"]
assert client.get(path).status_code == 200
with CaptureQueriesContext(connection) as captured:
    client.get(path)
queries = len(captured)  # now: every request start empties the log
started = time.process_time()
for _ in range(2000):
    client.get(path)
print(queries, (time.process_time() - started) / 2000 * 1e6)
"""


def in_process(env: dict[str, str], key: str, path: str, guards: bool) -> tuple[int, float]:
    """(queries per warm request, CPU microseconds per request) of `path`, served in-process
    by Django's test client: no network, no load generator, far less noise than wrk."""
    env = {**env, "DJANGO_SETTINGS_MODULE": "bench.settings", "BENCH_KEY": key,
           "BENCH_PATH": path, "BENCH_GUARDS": "on" if guards else "off"}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", IN_PROCESS], env=env, check=True, capture_output=True
    )
    queries, micros = out.stdout.decode().split()
    return int(queries), float(micros)


def run(seconds: int, sqlite: bool, workers: int, rounds: int) -> dict[str, float]:
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is needed (apt-get install wrk); `make bench` installs it")
    name = "coldsend_bench_auth"
    url = sqlite_database(name) if sqlite else postgres_database(name)
    env = base_env(url, **{k: v for k, v in os.environ.items() if k == "CACHE_URL"})
    manage(env, "migrate", "--noinput")
    key = create_key(env, workspace="bench")
    # A limit no benchmark reaches, so every request does the full rate-limit work.
    env["RATE_LIMIT"] = "100000000/minute"
    cpu = {"me": [], "bare": [], "baseline": []}
    for _ in range(rounds):  # alternate the processes too: each run's CPU speed varies
        queries, micros = in_process(env, key, "/api/public/v1/me", guards=True)
        cpu["me"].append(micros)
        cpu["bare"].append(in_process(env, key, "/api/public/v1/me", guards=False)[1])
        cpu["baseline"].append(in_process(env, key, "/bench/baseline", guards=True)[1])
    cpu_me, cpu_bare, cpu_baseline = (statistics.median(cpu[k]) for k in ("me", "bare", "baseline"))
    baseline, me, unguarded = [], [], []
    guarded = gunicorn(env, workers=workers, settings="bench.settings")
    bare = gunicorn({**env, "BENCH_GUARDS": "off"}, workers=workers, settings="bench.settings")
    with guarded as (base, _), bare as (bare_base, _):
        for url, k in ((f"{base}/bench/baseline", None), (f"{base}/api/public/v1/me", key),
                       (f"{bare_base}/api/public/v1/me", key)):  # fmt: skip
            wrk(url, 2, k)  # warm up
        for _ in range(rounds):  # interleave, so drift on a shared machine hits all alike
            baseline.append(wrk(f"{base}/bench/baseline", seconds, None))
            me.append(wrk(f"{base}/api/public/v1/me", seconds, key))
            unguarded.append(wrk(f"{bare_base}/api/public/v1/me", seconds, key))
    return {
        "baseline_rps": statistics.median(baseline),
        "me_rps": statistics.median(me),
        "me_unguarded_rps": statistics.median(unguarded),
        # each round's figures were taken side by side: the median of their ratios
        "ratio": statistics.median(m / b for m, b in zip(me, baseline, strict=True)),
        "guard_cost": statistics.median(1 - m / u for m, u in zip(me, unguarded, strict=True)),
        "queries_per_me_request": queries,
        "cpu_baseline_us": cpu_baseline,
        "cpu_me_us": cpu_me,
        "cpu_me_unguarded_us": cpu_bare,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    r = run(args.seconds, args.sqlite, args.workers, args.rounds)
    engine = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"auth throughput ({engine}, gunicorn {args.workers} sync workers, wrk -t2 -c16, "
          f"median of {args.rounds} interleaved rounds of {args.seconds}s):")  # fmt: skip
    print(f"  baseline (no auth, 1 indexed query): {r['baseline_rps']:.0f} req/s")
    print(f"  GET /me with X-API-Key:              {r['me_rps']:.0f} req/s")
    print(f"  ratio: {r['ratio']:.1%} (target >= 90%)")
    print(f"  queries per warm GET /me: {r['queries_per_me_request']} (target <= 1)")
    print(f"  GET /me without rate limiter and idempotency: {r['me_unguarded_rps']:.0f} req/s")
    print(f"  their cost: {r['guard_cost']:.1%} of /me throughput (target <= 5%)")
    print(f"in-process CPU per request (Django test client, 2000 requests, median of "
          f"{args.rounds} alternating runs):")  # fmt: skip
    print(f"  baseline {r['cpu_baseline_us']:.0f} us, GET /me {r['cpu_me_us']:.0f} us "
          f"(ratio {r['cpu_baseline_us'] / r['cpu_me_us']:.1%}), GET /me without guards "
          f"{r['cpu_me_unguarded_us']:.0f} us (guards cost "
          f"{1 - r['cpu_me_unguarded_us'] / r['cpu_me_us']:.1%})")  # fmt: skip


if __name__ == "__main__":
    main()
