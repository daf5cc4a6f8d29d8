"""The lead import's report (API.md §6) with its rows' errors, and uploads of a file to import."""

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tests.urls import IMPORT


def error(row: int, email: str, message: str) -> dict:
    return {"row": row, "email": email, "error": message}


def report(
    created: int = 0,
    duplicates: int = 0,
    invalid: int = 0,
    errors: tuple = (),
    suppressed: int = 0,
) -> dict:
    return {
        "created": created,
        "suppressed": suppressed,
        "duplicates": duplicates,
        "invalid": invalid,
        "errors": list(errors),
    }


def upload(client: APIClient, campaign_id: object, data: bytes, name: str = "leads.csv"):
    return client.post(
        IMPORT,
        {"campaign_id": str(campaign_id), "file": SimpleUploadedFile(name, data, "text/csv")},
        format="multipart",
    )
