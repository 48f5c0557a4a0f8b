"""The reference application's producer: the platform's `Producer` with one typed method per catalogue job type."""

from __future__ import annotations

from corral.producer import Producer
from corral_reference.typed_producer import CatalogueProducerMixin


class ReferenceProducer(CatalogueProducerMixin, Producer):
    """Enqueues catalogue jobs by typed methods (`email_send(...)`) or by name (`enqueue("email.send", ...)`)."""
