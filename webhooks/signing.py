"""Standard Webhooks 1.0 signatures, made by the spec's reference implementation
(`standardwebhooks`), so receivers verify them with that library or Svix's unchanged."""

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class Signer:
    """Signs with one secret, or two during a rotation (space-separated, the newest first)."""

    def __init__(self, *secret_values: str) -> None:
        self._webhooks = [Webhook(value) for value in secret_values if value]

    def headers(self, message_id: str, timestamp: int, body: str) -> dict[str, str]:
        at = datetime.fromtimestamp(timestamp, UTC)
        signature = " ".join(hook.sign(message_id, at, body) for hook in self._webhooks)
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
