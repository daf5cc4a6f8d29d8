"""POST leads/import: a CSV upload or a JSON list of leads into one campaign (API.md §6)."""

import csv
from typing import Any

from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from campaigns.models import Campaign
from coldsend.api.schema import ERROR
from coldsend.api.strict import StrictFieldsMixin
from coldsend.core.errors import NotFound, TooLarge
from delivery.actions import do_import_leads
from leads import importing
from leads.importing import HEADER_ALIASES, MAX_ERRORS, NAME_MAX_LENGTH
from leads.importing.parse_json import MAX_VALUES_PER_LEAD
from leads.serializers import CUSTOM_FIELDS_SCHEMA
from leads.values import MAX_CUSTOM_FIELDS, MAX_CUSTOM_KEY_LENGTH, MAX_CUSTOM_VALUE_LENGTH

CAMPAIGN_ID_HELP = "A campaign of the key's workspace (404 otherwise)."


class LeadImportUploadSerializer(serializers.Serializer):
    campaign_id = serializers.UUIDField(help_text=CAMPAIGN_ID_HELP)
    file = serializers.FileField(
        help_text=(
            "The CSV file. UTF-8 with or without BOM, else Windows-1252 (Latin-1); the delimiter "
            "(`,` `;` or tab) is taken from the header line; quoted cells may hold delimiters and "
            "line breaks; CRLF or LF. A header row is required. Headers are matched ignoring "
            "case, spaces and punctuation: "
            + "; ".join(
                f"{name} ← {', '.join(aliases)}" for name, aliases in HEADER_ALIASES.items()
            )
            + ". Every other column with a header becomes a custom field under its trimmed "
            f"header, so there may be at most {MAX_CUSTOM_FIELDS} such columns, each header of at "
            f"most {MAX_CUSTOM_KEY_LENGTH} characters (else 400); columns without a header are "
            "ignored. Values are trimmed and stored as given otherwise (empty custom values are "
            f"left out; a longer one than {MAX_CUSTOM_VALUE_LENGTH} characters makes the row "
            "invalid). Blank rows, and rows of empty cells only, are skipped and not counted."
        )
    )


LEAD_ROW_SCHEMA = {
    "type": "object",
    "properties": {
        "email": {"type": "string"},
        **{
            name: {"type": "string", "maxLength": NAME_MAX_LENGTH}
            for name in ("first_name", "last_name", "company")
        },
        "custom_fields": CUSTOM_FIELDS_SCHEMA,
    },
    "required": ["email"],
    "additionalProperties": False,
}


@extend_schema_field(
    {
        "type": "array",
        "items": {
            # Any item is accepted: one that does not match the first schema is an invalid row.
            "anyOf": [LEAD_ROW_SCHEMA, {}],
            "description": "A lead, shaped as the first schema. Any other item (not an "
            "object, a value that is not a string, a field not listed, a name over "
            f"{NAME_MAX_LENGTH} characters, `custom_fields` that POST leads would refuse, a "
            "missing or malformed email) is an invalid row, counted and listed in `errors`, not "
            "a 400. One limit is the body's: no value in it may hold an array or object more "
            "than one level below a lead (deeper, e.g. an object inside `custom_fields` or "
            "inside another of a lead's values, makes the whole body a 400: the JSON is read as "
            "it streams in, and depth is what could make reading it costly).",
        },
    }
)
class LeadRowsField(serializers.ListField):
    pass


class LeadImportJSONSerializer(serializers.Serializer):
    campaign_id = serializers.UUIDField(help_text=CAMPAIGN_ID_HELP)
    leads = LeadRowsField(help_text="The leads, numbered from 1 in the report.")


class LeadImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(
        help_text=(
            "CSV: the file line the row starts on (header = 1; blank lines count). "
            "JSON: the lead's position in `leads`, from 1."
        )
    )
    email = serializers.CharField(help_text='The email as given ("" when missing).')
    error = serializers.CharField()


class LeadImportReportSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    suppressed = serializers.IntegerField(
        help_text=(
            "Of the created leads, those whose address is suppressed in the workspace (an "
            "unsubscribe or a hard bounce): they start UNSUBSCRIBED or BOUNCED and are never "
            "contacted."
        )
    )
    duplicates = serializers.IntegerField(
        help_text=(
            "Rows whose email (normalised) came earlier in the file or is already in the "
            "campaign, also when added by a concurrent request. Counted, not listed in `errors`."
        )
    )
    invalid = serializers.IntegerField()
    errors = LeadImportErrorSerializer(
        many=True, help_text=f"The invalid rows, in file order; at most {MAX_ERRORS:,}."
    )


IMPORT_INVALID = inline_serializer(
    "LeadImportInvalid",
    {
        "campaign_id": serializers.ListField(child=serializers.CharField(), required=False),
        "file": serializers.ListField(child=serializers.CharField(), required=False),
        "leads": serializers.ListField(child=serializers.CharField(), required=False),
    },
)


class CampaignIdSerializer(StrictFieldsMixin, serializers.Serializer):
    """A JSON number is not an id (DRF alone would read 5 as UUID(int=5))."""

    refuses_unknown_fields = False  # the body's other part (file or leads) is read apart

    campaign_id = serializers.UUIDField()


MULTIPART_SLACK = 64 * 1024  # form fields and part headers around an import file


class LeadImportJSONParser(BaseParser):
    """A JSON import body, read in one streaming pass: `leads` is counted, not built, so no body
    of any shape costs more memory than a few of its leads."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return importing.read_json_import(stream.read())
        except importing.JSONBodyError as exc:
            raise ParseError(str(exc)) from None


class LeadImportView(APIView):
    scope_resource = "leads"
    scope_action = "create"
    throttle_bucket = "import"

    @staticmethod
    def max_body_bytes() -> int:
        """The body size BodySizeLimitMiddleware lets through: the file limit, plus room for
        the form around the file (the file's own size is then checked exactly)."""
        return importing.max_bytes() + MULTIPART_SLACK

    parser_classes = [LeadImportJSONParser, MultiPartParser]
    http_method_names = ["post"]  # OPTIONS too answers 405, as on every other API path

    @extend_schema(
        operation_id="leads_import",
        summary="Import leads from a CSV file or a JSON list",
        description=(
            "Imports leads into one campaign in a single transaction: every valid row is "
            "created, or (on any failure) nothing. Invalid rows (missing or malformed email, a "
            f"name or company over {NAME_MAX_LENGTH} characters, custom fields that POST leads "
            f"would refuse: over {MAX_CUSTOM_FIELDS} keys, a key not of 1 to "
            f"{MAX_CUSTOM_KEY_LENGTH} characters or a value over {MAX_CUSTOM_VALUE_LENGTH}, …) "
            "and duplicates are skipped and counted: `created + duplicates + invalid` is the "
            "number of data rows. New leads are PENDING, or UNSUBSCRIBED / BOUNCED (still "
            "counted as created, never contacted) when the address is suppressed in the "
            "workspace; see POST leads for how they are scheduled. A CSV column that is not a "
            "lead field names a custom field, so a header with more such columns than a lead "
            "may have custom fields, or one whose header is too long for a custom field name, "
            "is a 400: every row would be invalid.\n\n"
            "Limits: the file (or the JSON body) may be up to `LEADS_IMPORT_MAX_BYTES` (10 MB by "
            "default) and hold up to `LEADS_IMPORT_MAX_ROWS` data rows (100,000): over either, "
            "413 and nothing is imported. A body far over the byte limit is refused by its "
            "Content-Length before it is read, so before the campaign is looked up; otherwise "
            "the campaign is checked (404) before the file (400, 413).\n\n"
            "Bodies are read with bounded memory. A JSON body is read in one streaming pass "
            "before any lead is built: `leads` past the row limit is a 413 whatever its items "
            "are; JSON nested deeper than a lead can hold (the body, `leads`, a lead, one object "
            "or list as a field's value) is a 400 (`detail`), as is malformed JSON or `leads` "
            f"given twice; a lead holding more than {MAX_VALUES_PER_LEAD:,} values in all is a "
            "400 on `leads`. Top-level keys other than `campaign_id` and `leads` are ignored. A "
            "CSV header with more than `LEADS_IMPORT_MAX_COLUMNS` (1,000 by default) columns is "
            "a 400, and so is a data row holding more than ten times that many delimiter "
            "characters (quoted ones included)."
        ),
        request={
            "multipart/form-data": LeadImportUploadSerializer,
            "application/json": LeadImportJSONSerializer,
        },
        responses={
            201: LeadImportReportSerializer,
            400: OpenApiResponse(
                IMPORT_INVALID,
                description=(
                    "`campaign_id` missing or not a UUID; no file; or a file that is empty, "
                    "binary, not UTF-8/Latin-1 text, has no header row or no email column, has "
                    "more columns than LEADS_IMPORT_MAX_COLUMNS or a far wider data row, has "
                    f"more than {MAX_CUSTOM_FIELDS} columns that are not lead fields or one "
                    f"whose header is over {MAX_CUSTOM_KEY_LENGTH} characters, or cannot be read "
                    f"as CSV (e.g. a cell, in the header too, over {csv.field_size_limit():,} "
                    "characters). Nothing is imported."
                ),
            ),
            404: OpenApiResponse(ERROR, description="No such campaign in the key's workspace."),
            413: OpenApiResponse(
                ERROR,
                description="Over the byte, row or line limit (a CSV file's lines, line breaks "
                "inside quoted cells included).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        campaign = self.campaign(request.data)
        actor = Actor.for_key(request.auth)
        try:
            if request.content_type.startswith("multipart/form-data"):
                report = do_import_leads(
                    campaign, csv_file=self.uploaded_file(request), actor=actor
                )
            else:
                report = do_import_leads(campaign, json_leads=self.json_leads(request), actor=actor)
        except Campaign.DoesNotExist:  # deleted while the file was being read
            raise NotFound from None
        return Response(report.as_dict(), status=status.HTTP_201_CREATED)

    def campaign(self, data: Any) -> Campaign:
        serializer = CampaignIdSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        campaign = (
            Campaign.objects.for_workspace(self.request.auth.workspace)
            .filter(pk=serializer.validated_data["campaign_id"])
            .first()
        )
        if campaign is None:
            raise NotFound
        return campaign

    def uploaded_file(self, request: Request) -> Any:
        upload = request.FILES.get("file")
        if upload is None:
            message = (
                "Send the CSV as a file (a form part with a filename)."
                if "file" in request.data
                else "No file was submitted."
            )
            raise ValidationError({"file": [message]})
        if upload.size > importing.max_bytes():
            raise TooLarge(importing.too_many_bytes_message())
        return upload.file

    def json_leads(self, request: Request) -> importing.LeadItems:
        if "leads" not in request.data:
            raise ValidationError({"leads": ["This field is required."]})
        leads = request.data["leads"]
        if not isinstance(leads, importing.LeadItems):
            raise ValidationError({"leads": ["Expected a list of lead objects."]})
        if int(request.META.get("CONTENT_LENGTH") or 0) > importing.max_bytes():
            raise TooLarge(importing.too_many_bytes_message())
        if leads.problem is not None:
            raise ValidationError({"leads": [leads.problem]})
        return leads
