"""How well inbound.dsn.read_report names the failed recipients of real bounces, against
flufl.bounce's own all_failures (and, where given, the addresses flufl.bounce's test suite
expects of each message). Pure: no database, no Django.

    python -m bench.dsn_corpus                      # tests/fixtures/dsn
    python -m bench.dsn_corpus DIR                  # every file of DIR, one message each
    python -m bench.dsn_corpus DIR --expected tests/test_detectors.py
    python -m bench.dsn_corpus --flufl-sdist        # flufl.bounce's own corpus of ~120 bounces

The installed flufl.bounce wheel carries no test data; --flufl-sdist fetches the source
distribution of the installed version with pip (PyPI), into a temporary directory, and reads
its tests/data/ (bounces from many MTAs, 2000-2020) and the expected addresses listed in its
tests/test_detectors.py.

Figures, address by address, lower-cased:
- "permanent vs flufl": of the addresses flufl.bounce calls permanently failed, how many
  read_report fails (HARD or FAILED); also the column for inbound.classify as it stands, for
  comparison (its bounce recipients).
- "expected": of the addresses flufl's test suite expects as permanent failures, how many each
  reader finds.
- "temporary": messages flufl calls only temporary, and how many read_report leaves unfailed.
"""

import argparse
import ast
import email
import email.policy
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from importlib.metadata import version
from pathlib import Path

from flufl.bounce import all_failures

from inbound.dsn import read_report

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "dsn"


@dataclass
class Tally:
    """Found / wanted, address by address."""

    found: int = 0
    wanted: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, name: str, wanted: set[str], got: set[str]) -> None:
        self.wanted += len(wanted)
        self.found += len(wanted & got)
        if wanted - got:
            self.misses.append(f"{name}: wanted {sorted(wanted)}, got {sorted(got)}")

    def rate(self) -> str:
        if not self.wanted:
            return "n/a"
        return f"{self.found}/{self.wanted} = {100 * self.found / self.wanted:.1f} %"


def parse(path: Path) -> Message:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)


def flufl_answer(msg: Message) -> tuple[set[str], set[str]] | None:
    try:
        temporary, permanent = all_failures(msg)
    except Exception:
        return None
    return _lower(temporary), _lower(permanent)


def _lower(addresses: frozenset[bytes]) -> set[str]:
    return {a.decode("utf-8", "replace").lower() for a in addresses}


def ours(msg: Message) -> tuple[bool, set[str], Counter]:
    report = read_report(msg)
    if report is None:
        return False, set(), Counter()
    return True, {f.address for f in report.failures}, Counter(f.verdict for f in report.failures)


def classify_reader() -> Callable[[Message], set[str]] | None:
    """inbound.classify's bounce recipients, for comparison (None if it cannot be imported)."""
    try:
        from inbound.classify import BOUNCE, classify
    except Exception:
        return None

    def read(msg: Message) -> set[str]:
        try:
            found = classify(msg)
        except Exception:
            return set()
        return {f.address for f in found.failures} if found.kind == BOUNCE else set()

    return read


def expected_addresses(path: Path) -> dict[str, tuple[set[str], bool]]:
    """flufl's tests/test_detectors.py DETECTORS table: file → (addresses, temporary), the
    union of what its detectors are expected to find (files whose entries are all empty are
    left out: a detector that must not fire says nothing of the message)."""
    tree = ast.parse(path.read_text())
    table: list[tuple[str, str, list[bytes], bool]] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "DETECTORS" for t in node.targets
        ):
            table = ast.literal_eval(node.value)
    expected: dict[str, tuple[set[str], bool]] = {}
    for _detector, filename, addresses, temporary in table:
        if addresses:
            known, _ = expected.get(filename, (set(), temporary))
            expected[filename] = (known | {a.decode().lower() for a in addresses}, temporary)
    return expected


def fetch_flufl_sdist(into: Path) -> tuple[Path, Path]:
    """flufl.bounce's source distribution (the installed version), unpacked: (data, tests)."""
    wanted = version("flufl.bounce")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
         ":all:", f"flufl.bounce=={wanted}", "--dest", str(into)],
        check=True,
    )  # fmt: skip
    (archive,) = into.glob("flufl*bounce*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    (tests,) = into.glob("flufl*bounce*/tests")
    return tests / "data", tests / "test_detectors.py"


def run(directory: Path, expected: dict[str, tuple[set[str], bool]]) -> None:
    against_flufl, classify_against_flufl = Tally(), Tally()
    ours_expected, flufl_expected, classify_expected = Tally(), Tally(), Tally()
    counts: Counter = Counter()
    temporary_only = unfailed_temporaries = 0
    disagreements: list[str] = []
    classify = classify_reader()
    files = sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and not p.name.startswith("_") and p.suffix not in {".py", ".md"}
    )
    for path in files:
        msg = parse(path)
        counts["messages"] += 1
        flufl = flufl_answer(msg)
        is_report, failed, verdicts = ours(msg)
        counts.update(verdicts)
        counts["reports (read_report)"] += is_report
        temporary, permanent = flufl or (set(), set())
        counts["recognised by flufl"] += bool(temporary or permanent)
        counts["flufl raised"] += flufl is None
        by_classify = classify(msg) if classify else set()
        against_flufl.add(path.name, permanent, failed)
        classify_against_flufl.add(path.name, permanent, by_classify)
        if temporary and not permanent:
            temporary_only += 1
            unfailed_temporaries += not (failed & temporary)
        if failed != permanent:
            disagreements.append(
                f"{path.name}: flufl {sorted(permanent)} (temporary {sorted(temporary)}), "
                f"read_report {sorted(failed)}"
            )
        if path.name in expected and not expected[path.name][1]:
            wanted = expected[path.name][0]
            ours_expected.add(path.name, wanted, failed)
            flufl_expected.add(path.name, wanted, permanent)
            classify_expected.add(path.name, wanted, by_classify)

    print(f"corpus: {directory} ({counts['messages']} messages)")
    for key in ("recognised by flufl", "flufl raised", "reports (read_report)", "hard", "failed"):
        print(f"  {key}: {counts[key]}")
    print("permanent failures flufl names, also failed by:")
    print(f"  read_report:      {against_flufl.rate()}")
    if classify:
        print(f"  inbound.classify: {classify_against_flufl.rate()}")
    if expected:
        print("permanent failures flufl's test suite expects, found by:")
        print(f"  read_report:      {ours_expected.rate()}")
        print(f"  flufl all_failures: {flufl_expected.rate()}")
        if classify:
            print(f"  inbound.classify: {classify_expected.rate()}")
    print(f"temporary only (flufl): {temporary_only}, left unfailed by read_report: "
          f"{unfailed_temporaries}")  # fmt: skip
    for title, lines in (
        ("read_report misses against flufl", against_flufl.misses),
        ("read_report misses against the expected", ours_expected.misses),
        ("inbound.classify misses against flufl", classify_against_flufl.misses),
        ("where read_report and flufl differ", disagreements),
    ):
        if lines:
            print(f"{title}:")
            for line in lines:
                print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path, default=FIXTURES)
    parser.add_argument("--expected", type=Path, help="flufl.bounce's tests/test_detectors.py")
    parser.add_argument("--flufl-sdist", action="store_true", help="fetch flufl's own corpus")
    args = parser.parse_args()
    if args.flufl_sdist:
        with tempfile.TemporaryDirectory() as scratch:
            data, detectors = fetch_flufl_sdist(Path(scratch))
            run(data, expected_addresses(detectors))
        return
    run(args.directory, expected_addresses(args.expected) if args.expected else {})


if __name__ == "__main__":
    main()
