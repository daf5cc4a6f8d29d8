"""Bounce reports read right (API.md §8, item 1; inbound/dsn.py): the failed address is the
Original-Recipient when it is an address, else the Final-Recipient, else what flufl.bounce
finds; the Status is judged like an answer at RCPT TO (5.1.x and 5.2.1 hard, other 5.x.x and a
failed 4.x.x FAILED, delayed/relayed/delivered nothing); the ids of the returned message come
first. Pure functions over raw mail, parsed as the inbox parses it; no database.

The fixtures in tests/fixtures/dsn/ are written after what each MTA sends (RFC 3464, 3463, 6533
and the MTAs' own templates); their returned Message-IDs are <ORIGINAL_nn@sender.example>."""

import base64
import email
import email.policy
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest
from flufl.bounce import all_failures

from inbound import dsn
from inbound.dsn import FAILED, HARD, Failure, Report, read_report

FIXTURES = Path(__file__).parent / "fixtures" / "dsn"


def parse(raw: bytes | str) -> Message:
    """As the inbox parses what it fetches."""
    data = raw.encode() if isinstance(raw, str) else raw
    return email.message_from_bytes(data, policy=email.policy.compat32)


def fixture(name: str) -> Message:
    return parse((FIXTURES / name).read_bytes())


def summary(report: Report | None) -> tuple[list[tuple[str, str, str]], list[str]] | None:
    if report is None:
        return None
    return [(f.address, f.verdict, f.status) for f in report.failures], report.message_ids


def ids(n: int) -> list[str]:
    return [f"<ORIGINAL_{n:02d}@sender.example>"]


# fixture: ([(address, verdict, status)], message_ids), or None for a message that is no report.
EXPECTED = {
    "postfix_user_unknown.eml": ([("ann.lee@example.com", HARD, "5.1.1")], ids(1)),
    "postfix_expired_447.eml": (
        [("bob@example.net", FAILED, "4.4.7")],
        [*ids(2), "<ORIGINAL_02_STEP1@sender.example>"],
    ),
    "postfix_delayed_441.eml": ([], ids(3)),
    "exim_dsn_500_refined.eml": ([("carl@example.org", HARD, "5.1.1")], ids(4)),
    "exim_legacy.eml": (
        [("dora@example.net", HARD, "")],
        [*ids(5), "<ORIGINAL_05_STEP1@sender.example>"],
    ),
    "sendmail_user_unknown.eml": ([("ed.park@example.com", HARD, "5.1.1")], ids(6)),
    "office365_original_recipient.eml": (
        [("frank.miller@example.com", HARD, "5.1.10")],
        ids(7),
    ),
    "exchange_imceaex_original.eml": ([("grace.hall@corp.example.com", HARD, "5.1.1")], ids(8)),
    "gmail_no_such_user.eml": ([("henry.nobody.4711@gmail.com", HARD, "5.1.1")], ids(9)),
    "gmail_disabled_521.eml": ([("iris.retired@gmail.com", HARD, "5.2.1")], ids(10)),
    "yahoo_legacy.eml": ([("ivy.stone@yahoo.com", HARD, "")], ids(11)),
    "qmail_no_mailbox.eml": ([("jack.frost@example.org", HARD, "")], ids(12)),
    "domino_x400_final_recipient.eml": (
        [("kate.winter@corp.example", FAILED, "5.0.0")],
        ids(13),
    ),
    "x400_gateway_original_rfc822.eml": ([("liam.ortiz@example.net", HARD, "5.1.1")], ids(14)),
    "mailbox_full_522.eml": ([("mia.chen@example.com", FAILED, "5.2.2")], ids(15)),
    "policy_571_rejected.eml": ([("noah.reed@example.biz", FAILED, "5.7.1")], ids(16)),
    "sendmail_relayed.eml": ([], ids(17)),
    "postfix_delivered.eml": ([], ids(18)),
    "auto_submitted_auto_replied.eml": (
        [("uma.patel@contoso.example", FAILED, "5.4.1")],
        ids(19),
    ),
    "sendmail_multi_recipient.eml": ([("oscar@example.com", HARD, "5.1.1")], ids(20)),
    "global_dsn_utf8.eml": ([("李伟@例子.中国", HARD, "5.1.1")], ids(21)),
    "haraka_references_only.eml": ([("victor@example.io", HARD, "5.1.1")], ids(22)),
    "base64_delivery_status.eml": ([("quentin@example.net", HARD, "5.1.1")], ids(23)),
    "odd_line_endings.eml": ([("ruth@example.org", HARD, "5.1.1")], ids(24)),
    "status_in_multipart_mixed.eml": ([("sam@example.com", FAILED, "5.7.1")], ids(25)),
    "exchange_legacy_ndr.eml": ([("tom.baker@legacy.example.com", HARD, "")], ids(26)),
    "messaging_server_action_first.eml": ([("rosa@example.com", FAILED, "5.0.0")], ids(27)),
    "relay_wrapped_report.eml": ([("wanda@example.de", HARD, "5.1.1")], ids(28)),
    "not_a_bounce_reply.eml": None,
    "not_a_bounce_out_of_office.eml": None,
}

# What flufl.bounce 6.0.0's all_failures answers for each fixture: (temporary, permanent).
# Where it finds nothing, read_report's own RFC 3464 reader is what reads the report (odd
# encodings, RFC 6533, success reports); for exchange_imceaex_original.eml it returns the
# Exchange-internal IMCEAEX "address", where read_report takes the Final-Recipient.
FLUFL = {
    "postfix_user_unknown.eml": ([], ["ann.lee@example.com"]),
    "postfix_expired_447.eml": ([], ["bob@example.net"]),
    "postfix_delayed_441.eml": (["carla@example.org"], []),
    "exim_dsn_500_refined.eml": ([], ["carl@example.org"]),
    "exim_legacy.eml": ([], ["dora@example.net"]),
    "sendmail_user_unknown.eml": ([], ["ed.park@example.com"]),
    "office365_original_recipient.eml": ([], ["frank.miller@example.com"]),
    "exchange_imceaex_original.eml": ([], ["imceaex-_o"]),
    "gmail_no_such_user.eml": ([], ["henry.nobody.4711@gmail.com"]),
    "gmail_disabled_521.eml": ([], ["iris.retired@gmail.com"]),
    "yahoo_legacy.eml": ([], ["ivy.stone@yahoo.com"]),
    "qmail_no_mailbox.eml": ([], ["jack.frost@example.org"]),
    "domino_x400_final_recipient.eml": ([], ["kate.winter@corp.example"]),
    "x400_gateway_original_rfc822.eml": ([], ["liam.ortiz@example.net"]),
    "mailbox_full_522.eml": ([], ["mia.chen@example.com"]),
    "policy_571_rejected.eml": ([], ["noah.reed@example.biz"]),
    "sendmail_relayed.eml": ([], []),
    "postfix_delivered.eml": ([], []),
    "auto_submitted_auto_replied.eml": ([], ["uma.patel@contoso.example"]),
    "sendmail_multi_recipient.eml": ([], ["oscar@example.com"]),
    "global_dsn_utf8.eml": ([], []),
    "haraka_references_only.eml": ([], ["victor@example.io"]),
    "base64_delivery_status.eml": ([], []),
    "odd_line_endings.eml": ([], []),
    "status_in_multipart_mixed.eml": ([], ["sam@example.com"]),
    "exchange_legacy_ndr.eml": ([], ["tom.baker@legacy.example.com"]),
    "messaging_server_action_first.eml": ([], ["rosa@example.com"]),
    "relay_wrapped_report.eml": ([], ["wanda@example.de"]),
    "not_a_bounce_reply.eml": ([], []),
    "not_a_bounce_out_of_office.eml": ([], []),
}


def test_every_fixture_has_its_expectation():
    names = {path.name for path in FIXTURES.iterdir() if path.suffix == ".eml"}
    assert names == set(EXPECTED) == set(FLUFL)
    assert sum(1 for expected in EXPECTED.values() if expected is not None) >= 25


@pytest.mark.parametrize(("name", "expected"), EXPECTED.items(), ids=list(EXPECTED))
def test_a_fixture_reads_as_expected(name, expected):
    assert summary(read_report(fixture(name))) == expected


@pytest.mark.parametrize(("name", "answer"), FLUFL.items(), ids=list(FLUFL))
def test_flufl_bounce_answers_as_recorded(name, answer):
    temporary, permanent = all_failures(fixture(name))
    assert (sorted(a.decode() for a in temporary), sorted(a.decode() for a in permanent)) == answer


@pytest.mark.parametrize("name", [n for n, (_, p) in FLUFL.items() if p], ids=str)
def test_what_flufl_calls_permanent_fails_here_too(name):
    """Every address flufl.bounce calls permanently failed is failed here (HARD or FAILED),
    save the IMCEAEX encapsulation, which is no address."""
    _, permanent = FLUFL[name]
    failed = {f.address for f in read_report(fixture(name)).failures}
    assert {a.lower() for a in permanent if not a.startswith("imcea")} <= failed


def test_the_diagnostic_is_the_text_collapsed_and_capped():
    (failure,) = read_report(fixture("gmail_no_such_user.eml")).failures
    assert failure.diagnostic.startswith(
        "550-5.1.1 The email account that you tried to reach does not exist. Please try "
        "550-5.1.1 double-checking"
    )
    assert len(failure.diagnostic) == 200
    assert "\n" not in failure.diagnostic
    assert "  " not in failure.diagnostic
    (failure,) = read_report(fixture("postfix_user_unknown.eml")).failures
    assert failure.diagnostic == (
        "550 5.1.1 <ann.lee@example.com>: Recipient address rejected: User unknown in "
        "virtual mailbox table"
    )


def test_flufl_only_bounces_have_no_status_nor_diagnostic():
    (failure,) = read_report(fixture("qmail_no_mailbox.eml")).failures
    assert failure == Failure("jack.frost@example.org", HARD, "", "")


def test_a_report_carrying_auto_submitted_is_a_bounce_all_the_same():
    msg = fixture("auto_submitted_auto_replied.eml")
    assert msg["Auto-Submitted"] == "auto-replied"
    assert read_report(msg).failures


# --- Reports built here, one rule at a time -----------------------------------------------------


def report(
    *recipients: str,
    per_message: str = "Reporting-MTA: dns; mx.relay.example",
    text: str = "The mail system could not deliver your message.",
    headers: str = "",
    returned: str = "",
) -> Message:
    """A multipart/report with one message/delivery-status part holding `recipients`."""
    blocks = "\n\n".join(recipient.strip() for recipient in recipients)
    returned_part = (
        f"--BOUNDARY\nContent-Type: text/rfc822-headers\n\n{returned.strip()}\n\n"
        if returned
        else ""
    )
    return parse(
        "From: MAILER-DAEMON@mx.relay.example (Mail Delivery System)\n"
        "To: alice@sender.example\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Message-ID: <report.1@mx.relay.example>\n"
        f"{headers}"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"\n'
        "\n"
        f"--BOUNDARY\nContent-Type: text/plain\n\n{text}\n\n"
        f"--BOUNDARY\nContent-Type: message/delivery-status\n\n{per_message}\n\n{blocks}\n\n"
        f"{returned_part}"
        "--BOUNDARY--\n"
    )


def failures(msg: Message) -> list[tuple[str, str, str]]:
    result = read_report(msg)
    assert result is not None
    return [(f.address, f.verdict, f.status) for f in result.failures]


@pytest.mark.parametrize(
    "block",
    [
        "Final-Recipient: rfc822; bob@relay.example\n"
        "Original-Recipient: rfc822;Ann@Example.com\nAction: failed\nStatus: 5.1.1",
        "Original-Recipient: rfc822;<Ann@Example.com>\n"
        "Final-Recipient: rfc822; bob@relay.example\nAction: failed\nStatus: 5.1.1",
        "Action: failed\nStatus: 5.1.1\n"
        "Original-recipient: RFC822; ann@example.com\nFinal-recipient: rfc822;bob@ims-ms-daemon",
    ],
    ids=["postfix order", "rfc order", "action first"],
)
def test_original_recipient_wins(block):
    assert failures(report(block)) == [("ann@example.com", HARD, "5.1.1")]


@pytest.mark.parametrize(
    "original",
    [
        "x400; /G=Ann/S=Lee/O=Example/C=GB/",
        "unknown; ann",
        "rfc822;IMCEAEX-_o=Example_ou=Exchange+20Administrative+20Group_cn=Recipients_cn=ann"
        "@example.prod.outlook.com",
        "rfc822; ",
    ],
    ids=["x400", "unknown type", "exchange imceaex", "empty"],
)
def test_an_original_recipient_that_is_no_address_gives_way_to_the_final_one(original):
    msg = report(
        f"Original-Recipient: {original}\n"
        "Final-Recipient: rfc822; ann.lee@example.com\nAction: failed\nStatus: 5.1.1"
    )
    assert failures(msg) == [("ann.lee@example.com", HARD, "5.1.1")]


def test_an_x400_final_recipient_takes_its_address_from_flufl():
    msg = report(
        "Final-Recipient: X400; /G=Kate/S=Winter/O=Corp/C=DE/\nAction: failed\nStatus: 5.1.1",
        text="Your message\n\n  Subject: Hello\n\nwas not delivered to:\n\n"
        "  kate.winter@corp.example\n\nbecause:\n\n  User unknown",
    )
    assert failures(msg) == [("kate.winter@corp.example", HARD, "5.1.1")]


def test_an_x400_recipient_beside_an_rfc822_one_gets_the_other_address():
    """flufl's own RFC 3464 reader names only the rfc822 recipient and stops there; the report
    is read again with its delivery-status as text, and its Domino text names the other."""
    msg = report(
        "Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.1.1",
        "Final-Recipient: X400; /G=Kate/S=Winter/O=Corp/C=DE/\nAction: failed\nStatus: 5.2.2",
        text="Your message\n\n  Subject: Hello\n\nwas not delivered to:\n\n"
        "  kate.winter@corp.example\n\nbecause:\n\n  Mailbox full",
    )
    assert failures(msg) == [
        ("ann@example.com", HARD, "5.1.1"),
        ("kate.winter@corp.example", FAILED, "5.2.2"),
    ]


def test_an_x400_recipient_flufl_cannot_place_is_passed_over():
    msg = report("Final-Recipient: X400; /G=Kate/S=Winter/O=Corp/C=DE/\nAction: failed")
    assert read_report(msg) == Report(failures=[], message_ids=[])


@pytest.mark.parametrize(
    ("final", "address"),
    [
        ("<ann@example.com>", "ann@example.com"),
        ("ann@example.com", "ann@example.com"),
        ("utf-8; j\\x{00F6}rg@example.de", "jörg@example.de"),
        ("RFC822; ANN@EXAMPLE.COM (Ann Lee)", "ann@example.com"),
    ],
    ids=["untyped angle-addr", "untyped bare", "utf-8 unitext escape", "comment"],
)
def test_the_final_recipient_forms_that_are_addresses(final, address):
    msg = report(f"Final-Recipient: {final}\nAction: failed\nStatus: 5.1.1")
    assert failures(msg) == [(address, HARD, "5.1.1")]


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        ("5.1.1", HARD),
        ("5.1.0", HARD),
        ("5.1.10", HARD),
        ("5.1.2", HARD),
        ("5.2.1", HARD),
        ("5.2.2", FAILED),
        ("5.2.0", FAILED),
        ("5.4.1", FAILED),
        ("5.7.1", FAILED),
        ("5.3.4", FAILED),
        ("5.0.0", FAILED),
    ],
)
def test_a_failed_status_is_judged_like_an_answer_at_rcpt_to(status, verdict):
    msg = report(f"Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: {status}")
    assert failures(msg) == [("ann@example.com", verdict, status)]


def test_action_failed_with_4_4_7_is_failed():
    msg = report(
        "Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 4.4.7\n"
        "Diagnostic-Code: X-Postfix; message delivery time expired"
    )
    assert read_report(msg).failures == [
        Failure("ann@example.com", FAILED, "4.4.7", "message delivery time expired")
    ]


@pytest.mark.parametrize(
    "status",
    ["", "Status: 553 Exceeded maximum inbound message size", "Status: bogus", "Status: 2.0.0"],
    ids=["none", "smtp code", "garbage", "success code"],
)
def test_action_failed_without_a_usable_status_is_failed_with_no_status(status):
    msg = report(f"Final-Recipient: rfc822; ann@example.com\nAction: failure\n{status}")
    assert failures(msg) == [("ann@example.com", FAILED, "")]


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("delayed", "4.4.1"),
        ("delayed", "4.4.7"),
        ("Delayed", "5.1.1"),  # inconsistent: the Action is trusted
        ("relayed (to non-DSN-aware mailer)", "2.0.0"),
        ("delivered", "2.0.0"),
        ("expanded", "2.0.0"),
        ("", "4.2.2"),
        ("", "2.0.0"),
    ],
)
def test_what_changes_nothing(action, status):
    action_field = f"Action: {action}\n" if action else ""
    msg = report(f"Final-Recipient: rfc822; ann@example.com\n{action_field}Status: {status}")
    assert read_report(msg) == Report(failures=[], message_ids=[])


def test_no_action_and_a_5xx_status_fails():
    msg = report("Final-Recipient: rfc822; ann@example.com\nStatus: 5.1.1")
    assert failures(msg) == [("ann@example.com", HARD, "5.1.1")]


@pytest.mark.parametrize(
    ("status", "diagnostic", "expected"),
    [
        ("5.0.0", "smtp; 550 5.1.1 <ann@example.com>: User unknown", "5.1.1"),
        ("5.0.0", "smtp; 550-5.2.1 The account is disabled", "5.2.1"),
        ("5.0.0", "smtp; 554 5.7.1 Service unavailable; blocked", "5.7.1"),
        ("5.0.0", "smtp; 550 Requested action not taken: mailbox unavailable", "5.0.0"),
        ("5.0.0", "smtp; 450 4.2.1 try later", "5.0.0"),  # another class: not more specific
        ("5.0.0", "smtp; 550 host 5.1.20.7 refused", "5.0.0"),  # an IP address, not a code
        ("4.0.0", "smtp; 451 4.4.7 expired", "4.4.7"),
        ("5.1.0", "smtp; 550 5.1.1 User unknown", "5.1.0"),  # only X.0.0 is refined
    ],
)
def test_a_status_x_0_0_takes_the_code_in_the_diagnostic(status, diagnostic, expected):
    msg = report(
        f"Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: {status}\n"
        f"Diagnostic-Code: {diagnostic}"
    )
    ((_, _, found),) = failures(msg)
    assert found == expected


def test_several_recipients_each_judged():
    msg = report(
        "Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.1.1",
        "Final-Recipient: rfc822; bob@example.com\nAction: delivered\nStatus: 2.0.0",
        "Final-Recipient: rfc822; cat@example.com\nAction: delayed\nStatus: 4.4.1",
        "Final-Recipient: rfc822; dan@example.com\nAction: failed\nStatus: 5.2.2",
    )
    assert failures(msg) == [
        ("ann@example.com", HARD, "5.1.1"),
        ("dan@example.com", FAILED, "5.2.2"),
    ]


def test_recipients_without_a_blank_line_between_them():
    msg = report(
        "Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.1.1\n"
        "Original-Recipient: rfc822; bob@example.com\nFinal-Recipient: rfc822; bob@relay.example\n"
        "Action: failed\nStatus: 5.7.1\n"
        "Final-Recipient: rfc822; cat@example.com\nAction: delayed\nStatus: 4.4.1"
    )
    assert failures(msg) == [
        ("ann@example.com", HARD, "5.1.1"),
        ("bob@example.com", FAILED, "5.7.1"),
    ]


@pytest.mark.parametrize(
    ("eol", "expected"),
    [
        (b"\r", [("ann@example.com", HARD, "5.1.1"), ("dan@example.com", FAILED, "5.2.2")]),
        (b"\r\r\n", [("ann@example.com", HARD, "5.1.1"), ("dan@example.com", FAILED, "5.2.2")]),
        (b"\r\n", [("ann@example.com", HARD, "5.1.1"), ("dan@example.com", FAILED, "5.2.2")]),
    ],
    ids=["bare CR", "CR CR LF", "CRLF"],
)
def test_odd_line_endings_in_the_delivery_status(eol, expected):
    lines = [
        b"Reporting-MTA: dns; mx.example.com",
        b"",
        b"Final-Recipient: rfc822; bob@relay.example",
        b"Original-Recipient: rfc822;ann@example.com",
        b"Action: failed",
        b"Status: 5.1.1",
        b"",
        b"Final-Recipient: rfc822; dan@example.com",
        b"Action: failed",
        b"Status: 5.2.2",
        b"",
    ]
    msg = parse(
        b"From: postmaster@mx.example.com\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
        b"--B\nContent-Type: message/delivery-status\n\n" + eol.join(lines) + b"\n--B--\n"
    )
    assert failures(msg) == expected


def test_the_same_address_twice_is_one_failure_the_worst():
    msg = report(
        "Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.2.2",
        "Final-Recipient: rfc822; Ann@Example.com\nAction: failed\nStatus: 5.1.1",
    )
    assert failures(msg) == [("ann@example.com", HARD, "5.1.1")]


def test_a_delivery_status_part_built_with_a_text_payload():
    msg = MIMEMultipart("report", report_type="delivery-status")
    msg.attach(MIMEText("Delivery failed."))
    status = MIMEBase("message", "delivery-status")
    status.set_payload(
        "Reporting-MTA: dns; mx.example.com\n\n"
        "Action: failed\nFinal-Recipient: rfc822; anne@example.com\nStatus: 5.1.1\n"
    )
    msg.attach(status)
    assert not status.is_multipart()
    assert failures(msg) == [("anne@example.com", HARD, "5.1.1")]


def test_a_quoted_printable_delivery_status_part():
    msg = parse(
        "From: postmaster@mx.example.com\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: quoted-printable"
        "\n\nReporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; ann=40example.com\n"
        "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unkno=\nwn\n\n"
        "--B--\n"
    )
    assert read_report(msg).failures == [
        Failure("ann@example.com", HARD, "5.1.1", "550 5.1.1 user unknown")
    ]


def test_a_report_in_name_only_changes_nothing():
    msg = report("This part holds no fields at all.")
    assert read_report(msg) == Report(failures=[], message_ids=[])


# --- Message-IDs --------------------------------------------------------------------------------


def test_ids_most_specific_first_and_never_the_reports_own():
    msg = report(
        "Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.1.1",
        headers="In-Reply-To: <report.1@mx.relay.example>\n"
        "References: <REPORT_REF@sender.example>\n",
        returned="From: alice@sender.example\nMessage-ID: <RETURNED@sender.example>\n"
        "In-Reply-To: <STEP_1@sender.example>\n"
        "References: <STEP_0@sender.example> <STEP_1@sender.example>",
        text="Your message <IN_TEXT@sender.example> to <ann@example.com> failed.\n"
        "  Message-ID: <ON_A_LINE@sender.example>\nSee <mailto:postmaster@mx.relay.example>.",
    )
    assert read_report(msg).message_ids == [
        "<RETURNED@sender.example>",
        "<STEP_1@sender.example>",
        "<STEP_0@sender.example>",
        "<REPORT_REF@sender.example>",
        "<ON_A_LINE@sender.example>",
        "<IN_TEXT@sender.example>",
    ]


def test_ids_are_capped():
    references = " ".join(f"<REF_{n}@sender.example>" for n in range(80))
    msg = report(
        "Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.1.1",
        headers=f"References: {references}\n",
    )
    found = read_report(msg).message_ids
    assert len(found) == dsn.MAX_IDS
    assert found[0] == "<REF_79@sender.example>"


def test_the_returned_message_id_of_a_base64_message_rfc822_part():
    inner = base64.b64encode(b"From: alice@sender.example\r\nMessage-ID: <B64@sender.example>\r\n")
    msg = parse(
        "From: postmaster@mx.example.com\nMessage-ID: <own@mx.example.com>\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: message/delivery-status\n\n"
        "Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.1.1\n\n"
        "--B\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
        f"{inner.decode()}\n--B--\n"
    )
    assert read_report(msg).message_ids == ["<B64@sender.example>"]


# --- Not bounces, and bad mail ------------------------------------------------------------------


def test_a_human_message_is_no_report():
    msg = parse(
        "From: Xena <xena@example.com>\nTo: alice@sender.example\nSubject: Re: hello\n"
        "In-Reply-To: <ORIGINAL@sender.example>\n\nSounds good, Tuesday works.\n"
    )
    assert read_report(msg) is None


def test_flufl_failing_means_not_recognised(monkeypatch):
    def choke(msg):
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(dsn, "all_failures", choke)
    assert read_report(fixture("qmail_no_mailbox.eml")) is None
    expected = EXPECTED["postfix_user_unknown.eml"]
    assert summary(read_report(fixture("postfix_user_unknown.eml"))) == expected


def test_a_flufl_warning_is_a_report_that_changes_nothing():
    """flufl's temporary failures (its SimpleWarning detector) change nothing."""
    msg = parse(
        "From: postmaster@exchange.example.com\nTo: alice@sender.example\n"
        "Subject: Delivery Status Notification (Delay)\n\n"
        "This is an automatically generated Delivery Status Notification.\n\n"
        "THIS IS A WARNING MESSAGE ONLY.\n\nYOU DO NOT NEED TO RESEND YOUR MESSAGE.\n\n"
        "Delivery to the following recipient has been delayed.\n\n"
        "       ann@example.com\n\n"
        "Message will be retried for 2 more day(s)\n"
    )
    temporary, permanent = all_failures(msg)
    assert temporary
    assert not permanent
    assert read_report(msg) == Report(failures=[], message_ids=[])


GARBAGE = {
    "empty": b"",
    "binary": bytes(range(256)) * 4,
    "report without boundary": b"Content-Type: multipart/report; report-type=delivery-status\n\n"
    b"Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.1.1\n",
    "undecodable base64 status": b"Content-Type: multipart/report; boundary=B\n\n--B\n"
    b"Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
    b"!!!not base64 at all\xff\xfe\n--B--\n",
    "binary status part": b"Content-Type: multipart/report; boundary=B\n\n--B\n"
    b"Content-Type: message/delivery-status\n\n\xff\xfe\x00\x01Action: \xff\n"
    b"Final-Recipient: \xc3\x28; \xff@\xfe\nStatus: 5.\xff.1\n--B--\n",
    "bogus charsets": b"Content-Type: multipart/report; boundary=B\n\n--B\n"
    b"Content-Type: text/plain; charset=x-no-such-charset\n\n\xff<id@x.example>\n--B\n"
    b"Content-Type: text/rfc822-headers; charset=utf-7\nContent-Transfer-Encoding: base64\n\n"
    b"%%%\n--B--\n",
    "base64 message/rfc822 junk": b"Content-Type: multipart/report; boundary=B\n\n--B\n"
    b"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n\xff\xfe!!\n--B--\n",
    "empty message/rfc822": b"Content-Type: multipart/mixed; boundary=B\n\n--B\n"
    b"Content-Type: message/rfc822\n\n--B--\n",
    "deep nesting": b"".join(
        b"Content-Type: multipart/mixed; boundary=B%d\n\n--B%d\n" % (n, n) for n in range(60)
    )
    + b"Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@b.example\n",
    "headers only": b"From: MAILER-DAEMON@x.example\nSubject: Undelivered Mail\n"
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\n",
    "a huge field": b"Content-Type: multipart/report; boundary=B\n\n--B\n"
    b"Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; "
    + b"a" * 200_000
    + b"@example.com\nAction: failed\n--B--\n",
}


@pytest.mark.parametrize("raw", GARBAGE.values(), ids=list(GARBAGE))
def test_garbage_never_raises(raw):
    result = read_report(parse(raw))
    assert result is None or isinstance(result, Report)


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=str)
def test_a_fixture_cut_short_never_raises(name):
    raw = (FIXTURES / name).read_bytes()
    for end in range(0, len(raw), max(1, len(raw) // 12)):
        result = read_report(parse(raw[:end]))
        assert result is None or isinstance(result, Report)


def test_a_report_and_its_failures_are_frozen():
    result = read_report(fixture("postfix_user_unknown.eml"))
    with pytest.raises(AttributeError):
        result.failures[0].verdict = FAILED  # type: ignore[misc]
    with pytest.raises(AttributeError):
        result.message_ids = []  # type: ignore[misc]
