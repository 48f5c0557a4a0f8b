"""The dead-letter queue: exactly-once capture of dead jobs, entries and their fingerprints."""

from corral.dlq.entry import DeadLetterEntry
from corral.dlq.fingerprint import fingerprint, normalise_reason
from corral.dlq.store import DeadLetterStore

__all__ = ["DeadLetterEntry", "DeadLetterStore", "fingerprint", "normalise_reason"]
