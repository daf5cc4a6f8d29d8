"""Whose fault an SMTP answer is (API.md §7), as data: the phase decides first, then the RFC 3463
enhanced status code, then the basic reply code.

- The account phase (connect, EHLO, STARTTLS, AUTH, MAIL FROM) is never about a lead: see
  transport.AccountError. This module judges the recipient phase: RCPT TO and the end of DATA.
- HARD (a hard bounce: BOUNCED, the address suppressed), REFUSED (FAILED, nothing suppressed),
  TEMPORARY (tried again with backoff, FAILED when the tries are spent).

An enhanced code counts only when its class agrees with the reply code (RFC 3463 §2: "the class
... must match the basic reply code"); X.0.0 ("other undefined status": only the class is
known) counts as no enhanced code at all."""

import re
from enum import StrEnum


class Verdict(StrEnum):
    HARD = "hard"
    REFUSED = "refused"
    TEMPORARY = "temporary"


class Phase(StrEnum):
    RCPT = "rcpt"
    DATA = "data"


# 5.<subject>.<detail> → verdict; a subject missing here is REFUSED (5.3.x to 5.7.x: the mail
# system, network, protocol, content and security: the server refuses this message, not the
# address). RFC 3463 §3.2 (addressing) and §3.3 (mailbox status).
PERMANENT_BY_SUBJECT: dict[int, Verdict] = {
    1: Verdict.HARD,  # 5.1.x: bad destination mailbox/system address, no such user
    2: Verdict.TEMPORARY,  # 5.2.x: mailbox full (5.2.2), message too big for it (5.2.3) …
}
PERMANENT_BY_CODE: dict[tuple[int, int], Verdict] = {
    (2, 1): Verdict.HARD,  # 5.2.1: mailbox disabled, not accepting messages
}

# A 5xx without an enhanced code, by basic reply code and phase. RFC 5321 §4.2.3: 550 mailbox
# unavailable, 551 user not local, 553 mailbox name not allowed; 552 exceeded storage
# allocation (a full mailbox: temporary in practice).
PLAIN_PERMANENT: dict[Phase, dict[int, Verdict]] = {
    Phase.RCPT: {550: Verdict.HARD, 551: Verdict.HARD, 553: Verdict.HARD, 552: Verdict.TEMPORARY},
    # At the end of DATA every recipient was accepted: a bare 5xx is the server's own trouble.
    Phase.DATA: {},
}
PLAIN_PERMANENT_DEFAULT: dict[Phase, Verdict] = {
    Phase.RCPT: Verdict.REFUSED,  # 554 "relay access denied", 501 … : nothing to suppress
    Phase.DATA: Verdict.TEMPORARY,
}

ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


def enhanced_code(code: int, text: str) -> tuple[int, int, int] | None:
    """The enhanced status code that starts the answer's text, when its class agrees with the
    reply code and it says more than the class (not X.0.0)."""
    match = ENHANCED.match(text.lstrip())
    if match is None:
        return None
    found = (int(match[1]), int(match[2]), int(match[3]))
    if found[0] != code // 100 or found[1:] == (0, 0):
        return None
    return found


def judge(code: int, text: str, phase: Phase) -> Verdict:
    """The verdict on a refusal (`code` not 2xx) at RCPT TO or at the end of DATA."""
    if not 500 <= code < 600:
        return Verdict.TEMPORARY  # 4xx, and anything a server should not have said
    enhanced = enhanced_code(code, text)
    if enhanced is not None:
        _, subject, detail = enhanced
        verdict = PERMANENT_BY_CODE.get((subject, detail)) or PERMANENT_BY_SUBJECT.get(subject)
        return verdict or Verdict.REFUSED
    return PLAIN_PERMANENT[phase].get(code, PLAIN_PERMANENT_DEFAULT[phase])


# Account-phase answers that put the account in ERROR at once (authentication required,
# refused, too weak, or needs encryption: RFC 4954 §6); any other failure of the account phase
# counts towards ACCOUNT_FAILURES_IN_ROW.
AUTH_REFUSED = frozenset({530, 534, 535, 538})
