"""Run the README's shell blocks, in order, as a new user would on a fresh clone.

Every fenced shell block (sh, bash, shell) in README.md carries a marker after its language:

    ```sh server    the run command: started in the background; the runner waits until
                    GET /api/public/v1/me answers 401 and the mail catcher takes
                    connections, and stops it (its whole process group) at the end
    ```sh run       run, in README order, in ONE bash session with `set -euo pipefail`
                    against that server (so a failing command or a curl -f that gets a
                    non-2xx answer fails the run)
    ```sh skip      shown to the reader, not run (production values, the test suite)

An unmarked shell block is an error, so every block is a decision.

The blocks run in a scratch copy of the tracked files (what `git clone` gives: no .env, no
database) whose .venv is a link to this checkout's, with a minimal environment (PATH, HOME,
LANG) plus PORT and MAIL_CATCHER_PORT (free ports: runs on one machine never collide) and
HOST=127.0.0.1, and DJANGO_SUPERUSER_USERNAME/_EMAIL/_PASSWORD so `make createsuperuser` needs
no terminal.

Usage: .venv/bin/python scripts/run_readme.py [README.md]   (exit status: the run's)
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHELLS = {"sh", "bash", "shell"}
MARKERS = {"server", "run", "skip"}
FENCE = re.compile(r"^```([\w-]*)[ \t]*([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
SERVER_START_SECONDS = 90
RUN_SECONDS = 300


class ReadmeError(Exception):
    pass


@dataclass(frozen=True)
class Block:
    marker: str
    line: int
    code: str


def shell_blocks(text: str) -> list[Block]:
    """The README's shell blocks with their markers; ReadmeError for an unmarked one."""
    blocks = []
    for match in FENCE.finditer(text):
        language, marker, code = match.groups()
        if language not in SHELLS:
            continue
        line = text.count("\n", 0, match.start()) + 1
        if marker not in MARKERS:
            raise ReadmeError(
                f"README line {line}: shell block without a marker: write ```{language} run, "
                f"```{language} server or ```{language} skip"
            )
        blocks.append(Block(marker, line, code))
    servers = [b for b in blocks if b.marker == "server"]
    if len(servers) != 1:
        raise ReadmeError(f"expected exactly one `sh server` block, found {len(servers)}")
    first_run = next((b for b in blocks if b.marker == "run"), None)
    if first_run is not None and first_run.line < servers[0].line:
        raise ReadmeError(f"README line {first_run.line}: a `run` block before the server block")
    return blocks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_clone(workdir: Path) -> None:
    """The tracked files (as they are in this checkout), with their modification times, so
    make finds the linked .venv up to date."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the working tree
        target = workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    venv = ROOT / ".venv"
    if not (venv / ".installed").exists():
        raise ReadmeError(f"{venv} is not installed: run `make install` first")
    (workdir / ".venv").symlink_to(venv)


def user_environment(port: int) -> dict[str, str]:
    env = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ
    }
    env.update(
        PORT=str(port),
        HOST="127.0.0.1",
        MAIL_CATCHER_PORT=str(next(p for p in iter(free_port, None) if p != port)),
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_EMAIL="admin@example.com",
        DJANGO_SUPERUSER_PASSWORD="readme-runner-password-0",  # a throwaway database
    )
    return env


def wait_for_api(port: int, server: subprocess.Popen, log: Path) -> None:
    url = f"http://127.0.0.1:{port}/api/public/v1/me"
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ReadmeError(f"the server block exited ({server.returncode}):\n{log.read_text()}")
        try:
            urllib.request.urlopen(url, timeout=2)
        except urllib.error.HTTPError as answer:
            if answer.code == 401:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise ReadmeError(f"no 401 from {url} after {SERVER_START_SECONDS} s:\n{log.read_text()}")


def wait_for_catcher(port: int, server: subprocess.Popen, log: Path) -> None:
    """The local mail catcher the run command starts beside the server takes connections."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ReadmeError(f"the server block exited ({server.returncode}):\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            time.sleep(0.25)
    raise ReadmeError(f"no mail catcher on port {port} after {SERVER_START_SECONDS} s")


def stop(server: subprocess.Popen) -> None:
    """The server block's whole process group: make, runserver and its autoreloader child."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def run(readme: Path) -> int:
    blocks = shell_blocks(readme.read_text(encoding="utf-8"))
    server_block = next(b for b in blocks if b.marker == "server")
    script = ["set -euo pipefail", "shopt -s inherit_errexit", "set -v"]
    for block in blocks:
        if block.marker == "run":
            script += [f"# README line {block.line}", block.code]
    port = free_port()
    env = user_environment(port)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="coldsend-readme-") as scratch:
        workdir = Path(scratch) / "coldsend"
        workdir.mkdir()
        fresh_clone(workdir)
        log = Path(scratch) / "server.log"
        with log.open("w") as server_output:
            print(f"readme: server block (README line {server_block.line}), port {port}")
            server = subprocess.Popen(
                ["bash", "-euo", "pipefail", "-c", server_block.code],
                cwd=workdir,
                env=env,
                stdout=server_output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                wait_for_api(port, server, log)
                wait_for_catcher(int(env["MAIL_CATCHER_PORT"]), server, log)
                print(f"readme: server up after {time.monotonic() - started:.1f} s")
                result = subprocess.run(
                    ["bash", "-c", "\n".join(script)],
                    cwd=workdir,
                    env=env,
                    timeout=RUN_SECONDS,
                    check=False,
                )
            finally:
                stop(server)
        if result.returncode != 0:
            print(f"readme: FAILED (exit {result.returncode}); server log:\n{log.read_text()}")
            return result.returncode
    print(f"readme: every block ran in {time.monotonic() - started:.1f} s")
    return 0


def main() -> int:
    readme = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "README.md"
    try:
        return run(readme)
    except ReadmeError as error:
        print(f"readme: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
