"""Precision and recall of the automatic-answer classifier (inbound/automatic.py) on a directory
of raw messages whose names give the truth: `auto_*` for automatic answers, `human_*` for
people. Messages are parsed as the inbox does (compat32). Pure: no Django, no database.

    python -m bench.classifier                        # tests/fixtures/automatic
    python -m bench.classifier path/to/directory
"""

import email
import email.policy
import sys
from dataclasses import dataclass, field
from pathlib import Path

from inbound.automatic import is_automatic

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "automatic"


@dataclass
class Score:
    automatic: int = 0
    human: int = 0
    true_positives: int = 0
    missed: list[str] = field(default_factory=list)  # automatic answers taken for people
    false_alarms: list[str] = field(default_factory=list)  # people taken for automatic answers

    @property
    def precision(self) -> float:
        flagged = self.true_positives + len(self.false_alarms)
        return self.true_positives / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.automatic if self.automatic else 1.0


def score(directory: Path) -> Score:
    result = Score()
    for path in sorted(directory.iterdir()):
        if not path.is_file() or not path.name.startswith(("auto_", "human_")):
            continue
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        flagged = is_automatic(msg)
        if path.name.startswith("auto_"):
            result.automatic += 1
            result.true_positives += flagged
            if not flagged:
                result.missed.append(path.name)
        else:
            result.human += 1
            if flagged:
                result.false_alarms.append(path.name)
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    directory = Path(argv[1]) if len(argv) > 1 else FIXTURES
    result = score(directory)
    print(f"{directory}: {result.automatic} automatic answers, {result.human} human replies")
    print(f"precision {result.precision:.3f}  recall {result.recall:.3f}")
    for title, names in (("missed", result.missed), ("false alarms", result.false_alarms)):
        print(f"{title} ({len(names)}):" + "".join(f"\n  {name}" for name in names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
