"""Requests/s of the open pixel `GET /o/TOKEN.gif` against a plain Django view returning the
same GIF with no work (bench/urls.py), both served by the same gunicorn in one run, on
PostgreSQL, the load by wrk.

Every pixel request is a first open of its message (each wrk run walks its own slice of
messages), so each one verifies the token, reads the message, claims the 10-second repeat
window in the cache and inserts an OPENED event (whose triggers update the campaign's counters
and its first-opens). A second figure serves the same pixels again within 10 seconds: repeats
that only touch the cache.

Target (issue 10): pixel >= 0.8x the plain view.
Usage: python -m bench.tracking [--seconds 5] [--rounds 3] [--messages 60000]
(CACHE_URL, e.g. redis://127.0.0.1:6379/9, is passed through: the cache the servers share.)"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.server import base_env, gunicorn, manage, postgres_database, setup_django

DATABASE = "coldsend_bench_tracking"
LUA = """
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  paths = {}
  for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
  i = id
end
function request()
  local path = paths[(i % #paths) + 1]
  i = i + 2
  return wrk.format("GET", path)
end
"""


def load(messages: int) -> list[str]:
    """A campaign tracking opens with `messages` sent messages; their pixel paths."""
    from django.db import connection
    from django.utils import timezone

    from campaigns.models import Campaign, CampaignStep
    from delivery.models import Message
    from delivery.tokens import open_url
    from sender_accounts.models import SenderAccount
    from workspaces.models import Workspace

    workspace = Workspace.objects.create(slug="bench-tracking", name="Bench")
    sender = SenderAccount.objects.create(workspace=workspace, type="NATIVE", email="b@example.com")
    campaign = Campaign.objects.create(
        workspace=workspace, name="Bench", status="ACTIVE", tracking={"opens": True}
    )
    CampaignStep.objects.create(campaign=campaign, position=1, subject="Hi", body="Hello")
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO leads_lead (id, workspace_id, campaign_id, email, first_name,
                   last_name, company, custom_fields, status, created_at, current_step)
               SELECT gen_random_uuid(), %(ws)s, %(campaign)s, 'lead' || g || '@example.com',
                   '', '', '', '{}'::jsonb, 'CONTACTED', %(now)s, 1
               FROM generate_series(1, %(n)s) AS g""",
            {"ws": workspace.pk, "campaign": campaign.pk, "now": now, "n": messages},
        )
        cursor.execute(
            """INSERT INTO delivery_message (id, lead_id, campaign_id, step, sender_account_id,
                   status, attempts, message_id, subject, error, claimed_at, attempted_at,
                   sent_at)
               SELECT gen_random_uuid(), id, campaign_id, 1, %(sender)s, 'SENT', 1,
                   '<' || id || '@example.com>', 'Hi', '', %(now)s, %(now)s, %(now)s
               FROM leads_lead WHERE campaign_id = %(campaign)s""",
            {"sender": sender.pk, "campaign": campaign.pk, "now": now},
        )
    pks = Message.objects.filter(campaign=campaign).values_list("pk", flat=True)
    return [open_url(pk).split("://", 1)[1].partition("/")[2] for pk in pks]


def wrk(url: str, seconds: int, paths: Path | None = None) -> float:
    cmd = ["wrk", "-t2", "-c16", f"-d{seconds}s", url]
    env = dict(os.environ)
    if paths is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(LUA)
        cmd[1:1] = ["-s", script.name]
        env["BENCH_PATHS"] = str(paths)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    if "Non-2xx or 3xx responses" in out:
        raise RuntimeError(f"{url}: non-2xx responses\n{out}")
    return float(out.split("Requests/sec:")[1].split()[0])


def write_paths(directory: Path, name: str, paths: list[str]) -> Path:
    path = directory / name
    path.write_text("".join(f"/{p}\n" for p in paths))
    return path


def run(seconds: int, rounds: int, messages: int, workers: int) -> dict[str, object]:
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is needed (apt-get install wrk)")
    env = base_env(
        postgres_database(DATABASE), **{k: v for k, v in os.environ.items() if k == "CACHE_URL"}
    )
    manage(env, "migrate", "--noinput")
    setup_django(env)
    pixels = load(messages)
    slices = rounds + 1  # one for the warm-up
    size = len(pixels) // slices
    plain, first, repeat = [], [], []
    with (
        tempfile.TemporaryDirectory() as tmp,
        gunicorn(env, workers=workers, settings="bench.settings") as (base, _),
    ):
        directory = Path(tmp)
        files = [
            write_paths(directory, f"slice{i}", pixels[i * size : (i + 1) * size])
            for i in range(slices)
        ]
        wrk(f"{base}/bench/pixel.gif", 2)
        wrk(base, 2, files[0])
        for i in range(rounds):  # interleaved, so drift on a shared machine hits all alike
            plain.append(wrk(f"{base}/bench/pixel.gif", seconds))
            first.append(wrk(base, seconds, files[i + 1]))
            repeat.append(wrk(base, seconds, files[i + 1]))  # the same opens within 10 s
    from engagement.models import EmailEvent

    opens = EmailEvent.objects.filter(type="OPENED").count()
    return {
        "plain_rps": statistics.median(plain),
        "first_rps": statistics.median(first),
        "repeat_rps": statistics.median(repeat),
        "ratio": statistics.median(f / p for f, p in zip(first, plain, strict=True)),
        "repeat_ratio": statistics.median(r / p for r, p in zip(repeat, plain, strict=True)),
        "opens_recorded": opens,
        "slice": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=60000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    r = run(args.seconds, args.rounds, args.messages, args.workers)
    print(f"open pixel throughput (PostgreSQL, gunicorn {args.workers} sync workers, wrk -t2 "
          f"-c16, median of {args.rounds} interleaved rounds of {args.seconds}s, cache "
          f"{os.environ.get('CACHE_URL', 'locmem')}):")  # fmt: skip
    print(f"  plain view returning the GIF:         {r['plain_rps']:.0f} req/s")
    print(f"  GET /o/TOKEN.gif, first opens:        {r['first_rps']:.0f} req/s")
    print(f"  ratio: {r['ratio']:.1%} (target >= 80%)")
    print(f"  GET /o/TOKEN.gif, repeats within 10s: {r['repeat_rps']:.0f} req/s "
          f"({r['repeat_ratio']:.1%})")  # fmt: skip
    print(f"  OPENED events recorded: {r['opens_recorded']} "
          f"({r['slice']} messages per run)")  # fmt: skip


if __name__ == "__main__":
    main()
