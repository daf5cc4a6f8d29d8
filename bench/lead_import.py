"""A 100,000-row (~10 MB) CSV through `POST leads/import` on gunicorn (1 sync worker), against
PostgreSQL's own COPY of the same rows.

Prints per engine: seconds, rows/s and the worker's peak memory growth; on PostgreSQL also the
floor (COPY of the file into a bare table, no index) and, for scale, COPY of the same rows
straight into leads_lead with its indexes and foreign keys (what any importer must pay).
Target (issue 12): on PostgreSQL the request takes <= 1.5x the COPY of the same ready rows into
leads_lead (issue 6 had asked for 3x the bare COPY, out of reach); memory growth < 150 MB.
Usage: python -m bench.lead_import [--rows 100000] [--runs 3] [--engine postgresql|sqlite|both]
"""

import argparse
import csv
import http.client
import io
import json
import random
import statistics
import string
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from bench.server import (
    base_env,
    create_key,
    gunicorn,
    manage,
    postgres_database,
    sqlite_database,
)

CUSTOM_COLUMNS = ["Industry", "City", "Plan", "Source"]
TARGET_RATIO = 1.5
TARGET_MEMORY_MB = 150


def make_csv(rows: int) -> bytes:
    """Realistic leads: mixed-case emails, accented names, quoted companies with commas."""
    rng = random.Random(6)
    firsts = ["Anna", "Bob", "Chloé", "Dmitri", "Eve", "François", "Günther", "Hana", "Ivan"]
    lasts = ["Smith", "Müller", "O'Neil", "García", "Nakamura", "Kowalski", "Dubois"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Email", "First Name", "Last Name", "Company", *CUSTOM_COLUMNS])
    for i in range(rows):
        tag = "".join(rng.choices(string.ascii_lowercase, k=6))
        first, last = rng.choice(firsts), rng.choice(lasts)
        writer.writerow(
            [
                f"{first.encode('ascii', 'ignore').decode()[:3]}.{tag}{i}@Example{i % 997}.com",
                first,
                last,
                f"{last} & Co, {rng.choice(['Inc.', 'GmbH', 'Ltd'])}",
                rng.choice(["Software", "Retail", "Finance", "Health"]),
                rng.choice(["Berlin", "Paris", "New York", "São Paulo"]),
                rng.choice(["free", "pro", "enterprise"]),
                rng.choice(["webinar", "trade-fair", "referral"]),
            ]
        )
    return out.getvalue().encode()


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: text/csv\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def post_import(base: str, key: str, campaign_id: str, data: bytes) -> tuple[float, dict]:
    content_type, body = multipart({"campaign_id": campaign_id}, "leads.csv", data)
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    started = time.perf_counter()
    conn.request(
        "POST",
        "/api/public/v1/leads/import",
        body=body,
        headers={"Content-Type": content_type, "X-API-Key": key},
    )
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    if response.status != 201:
        raise RuntimeError(f"import answered {response.status}: {payload[:500]!r}")
    return elapsed, json.loads(payload)


def worker_pid(master_pid: int) -> int:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"expected one gunicorn worker, found {children}")
    return int(children[0])


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current RSS (clear_refs 5), so the peak is this request's."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def setup_campaigns(env: dict[str, str], count: int) -> tuple[str, list[str]]:
    key = create_key(env, "leads:create", workspace="bench")
    code = (
        "from workspaces.models import Workspace\n"
        "from campaigns.models import Campaign\n"
        "ws = Workspace.objects.get(slug='bench')\n"
        f"for i in range({count}):\n"
        "    print(Campaign.objects.create(workspace=ws, name=f'bench {i}').pk)\n"
    )
    return key, manage(env, "shell", "--no-imports", "-c", code).split()


def settle(database_url: str | None) -> None:
    """Empty leads_lead and checkpoint, so every timed step starts alike (PostgreSQL only)."""
    if database_url is None:
        return
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE leads_lead CASCADE")
        conn.execute("CHECKPOINT")


def run_requests(
    env: dict[str, str], data: bytes, rows: int, runs: int, pg_url: str | None = None
) -> dict[str, float]:
    key, campaigns = setup_campaigns(env, runs + 1)
    warmup = make_csv(100)
    seconds, growth_mb = [], []
    with gunicorn(env, workers=1, timeout=600) as (base, proc):
        pid = worker_pid(proc.pid)
        post_import(base, key, campaigns[0], warmup)  # load every module the import uses
        for campaign_id in campaigns[1:]:
            settle(pg_url)
            before = memory_kb(pid, "VmRSS")
            reset_peak(pid)
            elapsed, report = post_import(base, key, campaign_id, data)
            growth_mb.append((memory_kb(pid, "VmHWM") - before) / 1024)
            if report["created"] != rows or report["invalid"] or report["duplicates"]:
                raise RuntimeError(f"unexpected report: {json.dumps(report)[:500]}")
            seconds.append(elapsed)
    return {"seconds": statistics.median(seconds), "memory_mb": max(growth_mb), "all": seconds}


def copy_floor(database_url: str, data: bytes, runs: int) -> float:
    """PostgreSQL's own COPY of the CSV into a bare table (text columns, no index), committed."""
    import psycopg

    header = next(csv.reader(io.StringIO(data[:1000].decode())))
    columns = ", ".join(f"c{i} text" for i in range(len(header)))
    seconds = []
    with psycopg.connect(database_url) as conn:
        for _ in range(runs):
            conn.execute("DROP TABLE IF EXISTS bench_bare")
            conn.execute(f"CREATE TABLE bench_bare ({columns})")
            conn.commit()
            settle(database_url)
            started = time.perf_counter()
            with conn.cursor().copy("COPY bench_bare FROM STDIN (FORMAT csv, HEADER true)") as copy:
                for i in range(0, len(data), 1 << 16):
                    copy.write(data[i : i + (1 << 16)])
            conn.commit()
            seconds.append(time.perf_counter() - started)
        conn.execute("DROP TABLE bench_bare")
        conn.commit()
    return statistics.median(seconds)


def copy_into_leads(database_url: str, env: dict[str, str], data: bytes) -> float:
    """COPY of the same rows, ready-made, straight into leads_lead (its 8 indexes and 2 foreign
    keys), committed: no validation, no duplicate handling. What the table itself costs."""
    import psycopg

    from coldsend.core.ids import uuid7

    _, [campaign_id] = setup_campaigns(env, 1)
    reader = csv.reader(io.StringIO(data.decode()))
    header = next(reader)
    lines = []
    with psycopg.connect(database_url) as conn:
        [workspace_id] = conn.execute(
            "SELECT workspace_id FROM campaigns_campaign WHERE id = %s", [campaign_id]
        ).fetchone()
        for record in reader:
            custom = json.dumps(dict(zip(header[4:], record[4:], strict=True)))
            values = [str(uuid7()), record[0].lower(), *record[1:4], custom, "PENDING",
                      "2026-01-01 00:00:00+00", campaign_id, str(workspace_id)]  # fmt: skip
            lines.append("\t".join(v.replace("\\", "\\\\").replace("\t", "\\t") for v in values))
        payload = ("\n".join(lines) + "\n").encode()
        settle(database_url)
        started = time.perf_counter()
        with conn.cursor().copy(
            "COPY leads_lead (id, email, first_name, last_name, company, custom_fields, status,"
            " created_at, campaign_id, workspace_id) FROM STDIN"
        ) as copy:
            for i in range(0, len(payload), 1 << 16):
                copy.write(payload[i : i + (1 << 16)])
        conn.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", choices=["postgresql", "sqlite", "both"], default="both")
    args = parser.parse_args()
    data = make_csv(args.rows)
    print(f"lead import: {args.rows:,} rows, {len(data) / 1e6:.1f} MB CSV, gunicorn 1 sync worker")
    if args.engine in ("postgresql", "both"):
        url = postgres_database("coldsend_bench_import")
        env = base_env(url, RATE_LIMIT_IMPORT="1000/minute")
        manage(env, "migrate", "--noinput")
        floor = copy_floor(url, data, args.runs)
        result = run_requests(env, data, args.rows, args.runs, pg_url=url)
        into_leads = copy_into_leads(url, env, data)
        ratio = result["seconds"] / floor
        print("PostgreSQL:")
        print(f"  POST leads/import: {result['seconds']:.2f} s median of "
              f"{', '.join(f'{s:.2f}' for s in result['all'])}; "
              f"{args.rows / result['seconds']:,.0f} rows/s")  # fmt: skip
        print(f"  worker peak memory growth: {result['memory_mb']:.0f} MB "
              f"(target < {TARGET_MEMORY_MB} MB)")  # fmt: skip
        print(f"  floor, COPY into a bare table: {floor:.2f} s (request / that: {ratio:.1f}x)")
        print(f"  COPY of the ready rows straight into leads_lead: {into_leads:.2f} s "
              f"({into_leads / floor:.1f}x the floor)")  # fmt: skip
        print(f"  ratio request / COPY into leads_lead: {result['seconds'] / into_leads:.2f}x "
              f"(target <= {TARGET_RATIO}x)")  # fmt: skip
    if args.engine in ("sqlite", "both"):
        env = base_env(sqlite_database("coldsend_bench_import"), RATE_LIMIT_IMPORT="1000/minute")
        manage(env, "migrate", "--noinput")
        result = run_requests(env, data, args.rows, max(1, args.runs - 2))
        print("SQLite:")
        print(f"  POST leads/import: {result['seconds']:.2f} s; "
              f"{args.rows / result['seconds']:,.0f} rows/s")  # fmt: skip
        print(f"  worker peak memory growth: {result['memory_mb']:.0f} MB")


if __name__ == "__main__":
    main()
