"""The import report (API.md §6), spelled once for the CSV and JSON import tests."""


def error(row: int, email: str, message: str) -> dict:
    return {"row": row, "email": email, "error": message}


def report(created: int = 0, duplicates: int = 0, invalid: int = 0, errors: tuple = ()) -> dict:
    return {
        "created": created,
        "duplicates": duplicates,
        "invalid": invalid,
        "errors": list(errors),
    }
