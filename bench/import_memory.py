"""Peak memory growth of a gunicorn worker for hostile bodies of at most 10 MB sent to
`POST leads/import` (issue 12, finding 3): each body goes to a freshly started worker (1 sync
worker; memory a worker took stays with it), and the worker's VmHWM is read from /proc after
its peak was reset to its RSS just before the request.

Target: growth < 150 MB for every body. Prints status and growth per body.
Usage: python -m bench.import_memory [--engine postgresql|sqlite] [--only NAME]
"""

import argparse
import http.client
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from bench.lead_import import (
    make_csv,
    memory_kb,
    multipart,
    reset_peak,
    setup_campaigns,
    worker_pid,
)
from bench.server import base_env, gunicorn, manage, postgres_database, sqlite_database

LIMIT = 10 * 1024 * 1024
TARGET_MB = 150


def json_body(campaign_id: str, item: str, count: int | None = None) -> bytes:
    """`{"campaign_id": …, "leads": [item, item, …]}` with as many items as fit in 10 MB."""
    head = f'{{"campaign_id": "{campaign_id}", "leads": ['.encode()
    unit = item.encode() + b","
    count = count if count is not None else (LIMIT - len(head) - 2) // len(unit)
    return head + (unit * count)[:-1] + b"]}"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def wide_header_csv(campaign_id: str) -> bytes:
    names, size, i = ["email"], 6, 0
    while size < LIMIT - 100_000:
        name = f"c{i}"
        names.append(name)
        size += len(name) + 1
        i += 1
    return ",".join(names).encode() + b"\r\na@example.com\r\n"


def wide_row_csv(campaign_id: str) -> bytes:
    return b"email,name\r\n" + b"a@example.com" + b"," * (LIMIT - 200_000) + b"\r\n"


def wide_valid_csv() -> bytes:
    """Valid rows, each with 50 one-character custom fields: the most custom values per MB."""
    header = ",".join(["email", *(f"f{i}" for i in range(50))])
    cells = ",".join("x" * 50)
    rows = [f"lead{i}@example.com,{cells}" for i in range(100_000)]
    data = "\r\n".join([header, *rows]).encode()
    return data[: data.rfind(b"\r\n", 0, LIMIT - 200_000)] + b"\r\n"


def many_custom_fields(campaign_id: str) -> bytes:
    fields = ",".join(f'"k{i}":"v"' for i in range(600_000))
    return f'{{"campaign_id": "{campaign_id}", "leads": [{{"email": "a@example.com", '.encode() + (
        f'"custom_fields": {{{fields}}}}}]}}'.encode()
    )


def valid_json(campaign_id: str) -> bytes:
    leads = [
        {"email": f"lead{i}@example.com", "first_name": "Anna", "custom_fields": {"City": "Paris"}}
        for i in range(100_000)
    ]
    return json.dumps({"campaign_id": campaign_id, "leads": leads}).encode()


# name → (content type, body builder, extra headers)
BODIES: dict[str, tuple[str, Callable[[str], bytes], dict[str, str]]] = {
    "json: {} x 3.4 M": ("json", lambda c: json_body(c, "{}"), {}),
    'json: {"":{}} x 1.3 M': ("json", lambda c: json_body(c, '{"":{}}'), {}),
    "json: {} x 3.4 M, with Idempotency-Key": (
        "json",
        lambda c: json_body(c, "{}"),
        {"Idempotency-Key": "bench-1"},
    ),
    "json: [] x 3.4 M": ("json", lambda c: json_body(c, "[]"), {}),
    "json: one lead nested 1 M deep": ("json", lambda c: json_body(c, nested(1_000_000), 1), {}),
    "json: one lead with 600 k custom fields": ("json", many_custom_fields, {}),
    "json: 100,000 valid leads": ("json", valid_json, {}),
    "csv: header of 1.1 M columns": ("csv", wide_header_csv, {}),
    "csv: a row of 10 M values": ("csv", wide_row_csv, {}),
    "csv: 100,000 valid rows": ("csv", lambda c: make_csv(100_000), {}),
    "csv: 10 MB of rows with 50 custom fields": ("csv", lambda c: wide_valid_csv(), {}),
}


def send(base: str, key: str, campaign_id: str, kind: str, data: bytes,
         headers: dict[str, str]) -> tuple[int, bytes]:  # fmt: skip
    if kind == "csv":
        content_type, body = multipart({"campaign_id": campaign_id}, "leads.csv", data)
    else:
        content_type, body = "application/json", data
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    conn.request("POST", "/api/public/v1/leads/import", body=body,
                 headers={"Content-Type": content_type, "X-API-Key": key, **headers})  # fmt: skip
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--only", help="run the bodies whose name contains this text")
    args = parser.parse_args()
    if args.engine == "postgresql":
        url = postgres_database("coldsend_bench_import_memory")
    else:
        url = sqlite_database("coldsend_bench_import_memory")
    env = base_env(url, RATE_LIMIT_IMPORT="1000/minute", CACHE_URL="locmemcache://bench")
    manage(env, "migrate", "--noinput")
    bodies = {n: b for n, b in BODIES.items() if not args.only or args.only in n}
    key, campaigns = setup_campaigns(env, len(bodies) + 1)
    print(
        f"import memory, {args.engine}: worker peak RSS growth per body (target < {TARGET_MB} MB)"
    )
    worst = 0.0
    for (name, (kind, build, headers)), campaign_id in zip(
        bodies.items(), campaigns[1:], strict=True
    ):
        data = build(campaign_id)
        with gunicorn(env, workers=1, timeout=600) as (base, proc):
            pid = worker_pid(proc.pid)
            send(base, key, campaigns[0], "csv", make_csv(10), {})  # load what the import uses
            before = memory_kb(pid, "VmRSS")
            reset_peak(pid)
            started = time.perf_counter()
            status, payload = send(base, key, campaign_id, kind, data, headers)
            elapsed = time.perf_counter() - started
            growth = (memory_kb(pid, "VmHWM") - before) / 1024
        worst = max(worst, growth)
        answer = payload[:90].decode(errors="replace").replace("\n", " ")
        print(f"  {name:42} {len(data) / 1e6:5.1f} MB  {status}  +{growth:5.0f} MB  "
              f"{elapsed:5.2f} s  {answer}")  # fmt: skip
    print(f"worst growth: {worst:.0f} MB ({'within' if worst < TARGET_MB else 'OVER'} target)")


if __name__ == "__main__":
    main()
