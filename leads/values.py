"""What a lead's free-form text may hold: one rule for POST leads, the import and the admin."""

MAX_CUSTOM_FIELDS = 50
MAX_CUSTOM_KEY_LENGTH = 100
MAX_CUSTOM_VALUE_LENGTH = 1000


def storable(text: str) -> bool:
    """PostgreSQL cannot store NUL characters, nor lone surrogates (not valid UTF-8); DRF's
    CharField refuses both, free-form values need the same check."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def custom_fields_problems(data: dict) -> list[str]:
    """What is wrong with a custom_fields object (empty when it is valid)."""
    if len(data) > MAX_CUSTOM_FIELDS:
        return [f"At most {MAX_CUSTOM_FIELDS} custom fields are allowed."]
    problems = []
    for key, value in data.items():
        shown = key[:MAX_CUSTOM_KEY_LENGTH]
        if not 1 <= len(key) <= MAX_CUSTOM_KEY_LENGTH:
            problems.append(f"Keys must be 1 to {MAX_CUSTOM_KEY_LENGTH} characters long.")
        elif not isinstance(value, str):
            problems.append(f"The value of {shown!r} must be a string.")
        elif len(value) > MAX_CUSTOM_VALUE_LENGTH:
            problems.append(
                f"The value of {shown!r} is longer than {MAX_CUSTOM_VALUE_LENGTH} characters."
            )
        elif not (storable(key) and storable(value)):
            problems.append("Keys and values may not contain NUL characters or invalid Unicode.")
    return list(dict.fromkeys(problems))
