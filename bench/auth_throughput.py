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
import subprocess
import sys

from bench.server import base_env, gunicorn, manage, postgres_database, sqlite_database

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


def queries_per_me_request(env: dict[str, str], key: str) -> int:
    """Count the queries of a warm `GET me` in-process, with the same settings and database."""
    code = (
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "from django.test import Client\n"
        "from django.test.utils import CaptureQueriesContext\n"
        "import os\n"
        "c = Client(HTTP_HOST='localhost', HTTP_X_API_KEY=os.environ['BENCH_KEY'])\n"
        "c.get('/api/public/v1/me')\n"
        "with CaptureQueriesContext(connection) as q:\n"
        "    r = c.get('/api/public/v1/me')\n"
        "assert r.status_code == 200, r.status_code\n"
        "print(len(q))\n"
    )
    env = {**env, "DJANGO_SETTINGS_MODULE": "bench.settings", "BENCH_KEY": key}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    return int(out.stdout.decode().strip().splitlines()[-1])


def run(seconds: int, sqlite: bool, workers: int, rounds: int) -> dict[str, float]:
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is needed (apt-get install wrk); `make bench` installs it")
    name = "coldsend_bench_auth"
    url = sqlite_database(name) if sqlite else postgres_database(name)
    env = base_env(url, **{k: v for k, v in os.environ.items() if k == "CACHE_URL"})
    manage(env, "migrate", "--noinput")
    key = manage(env, "create_api_key", "--name", "bench", "--scopes", "*", "--workspace", "bench")
    key = key.strip().splitlines()[-1]
    queries = queries_per_me_request(env, key)
    # A limit no benchmark reaches, so every request does the full rate-limit work.
    env["RATE_LIMIT"] = "100000000/minute"
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
    result = {
        "baseline_rps": sum(baseline) / len(baseline),
        "me_rps": sum(me) / len(me),
        "me_unguarded_rps": sum(unguarded) / len(unguarded),
        "queries_per_me_request": queries,
    }
    result["ratio"] = result["me_rps"] / result["baseline_rps"]
    result["guard_cost"] = 1 - result["me_rps"] / result["me_unguarded_rps"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    r = run(args.seconds, args.sqlite, args.workers, args.rounds)
    engine = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"auth throughput ({engine}, gunicorn {args.workers} sync workers, wrk -t2 -c16):")
    print(f"  baseline (no auth, 1 indexed query): {r['baseline_rps']:.0f} req/s")
    print(f"  GET /me with X-API-Key:              {r['me_rps']:.0f} req/s")
    print(f"  ratio: {r['ratio']:.1%} (target >= 90%)")
    print(f"  queries per warm GET /me: {r['queries_per_me_request']} (target <= 1)")
    print(f"  GET /me without rate limiter and idempotency: {r['me_unguarded_rps']:.0f} req/s")
    print(f"  their cost: {r['guard_cost']:.1%} of /me throughput (target <= 5%)")


if __name__ == "__main__":
    main()
