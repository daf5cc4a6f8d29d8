"""The one rule for email addresses (leads and sender accounts; the API, the importer and the
admin): what Django's validator accepts, narrowed to what SMTP can carry (RFC 5321, and RFC 6531
for internationalised domains). Addresses are stored trimmed and lower-cased."""

import re
import unicodedata

import idna
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_LENGTH = 254  # RFC 5321's 256-octet path, less its angle brackets
MAX_LOCAL_LENGTH = 64
MAX_LABEL_LENGTH = 63

# Control, format (U+200B, U+202E …), line and paragraph separators: never part of an address.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

INVALID = "Enter a valid email address."
INVISIBLE = (
    "Enter a valid email address: control and invisible formatting characters (such as "
    "U+200B, U+202E or U+2028) are not allowed."
)
TOO_LONG = f"Enter a valid email address: at most {MAX_LENGTH} characters."
LOCAL_TOO_LONG = f"Enter a valid email address: at most {MAX_LOCAL_LENGTH} characters before @."
BAD_DOMAIN = (
    "Enter a valid email address: each part of the domain must be a valid (internationalised) "
    f"domain label of at most {MAX_LABEL_LENGTH} characters once encoded."
)

SHAPE_DESCRIPTION = (
    f"At most {MAX_LENGTH} characters, {MAX_LOCAL_LENGTH} before the @; the domain may be "
    "internationalised (IDNA 2008, each label at most 63 characters once encoded); no control "
    "or invisible formatting characters (Unicode Cc, Cf, Zl, Zp)."
)


def has_invisible_characters(value: str) -> bool:
    if value.isascii():
        return _ASCII_CONTROL.search(value) is not None
    return any(unicodedata.category(c) in INVISIBLE_CATEGORIES for c in value)


def normalize_email(value: str) -> str:
    """The address as stored: trimmed and lower-cased; ValidationError if it is not an address
    SMTP can carry."""
    email = (value or "").strip().lower()
    if has_invisible_characters(email):
        raise ValidationError(INVISIBLE, code="invalid")
    if len(email) > MAX_LENGTH:
        raise ValidationError(TOO_LONG, code="invalid")
    validate_email(email)
    local, _, domain = email.rpartition("@")
    if len(local) > MAX_LOCAL_LENGTH:
        raise ValidationError(LOCAL_TOO_LONG, code="invalid")
    if not domain.startswith("["):  # an address literal, checked by validate_email
        encoded = ascii_domain(domain)
        if len(local) + 1 + len(encoded) > MAX_LENGTH:
            raise ValidationError(TOO_LONG, code="invalid")
    return email


def ascii_domain(domain: str) -> str:
    """The domain as sent over SMTP; ValidationError if a label cannot be (IDNA 2008)."""
    labels = []
    for label in domain.split("."):
        if not label.isascii():
            try:
                label = idna.encode(label).decode("ascii")
            except idna.IDNAError:
                raise ValidationError(BAD_DOMAIN, code="invalid") from None
        if not 0 < len(label) <= MAX_LABEL_LENGTH:
            raise ValidationError(BAD_DOMAIN, code="invalid")
        labels.append(label)
    return ".".join(labels)
