"""A claimed message: what the claim hands to the gate, the send, the record and a release.
Its own module, below the claim and the store, so that neither imports the other."""

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Claim:
    message_id: uuid.UUID
    lead_id: uuid.UUID
    campaign_id: uuid.UUID
    account_id: uuid.UUID
    step: int
    claimed_at: datetime
    attempts: int = 0
