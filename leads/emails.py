from django.core.exceptions import ValidationError
from django.core.validators import validate_email


def normalize_email(value: str) -> str:
    """The address as stored: trimmed and lower-cased; ValidationError if it is not an address."""
    email = (value or "").strip().lower()
    validate_email(email)
    if len(email) > 254:
        raise ValidationError("Enter a valid email address.")
    return email
