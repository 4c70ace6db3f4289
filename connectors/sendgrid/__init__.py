"""SendGrid: build /v3/mail/send payloads with the official helpers, send them over requests."""

from connectors.sendgrid.mail import (
    MAX_PERSONALIZATIONS,
    OutgoingEmail,
    SendResult,
    build_batch_payloads,
    build_payload,
    retry_delay,
    send,
    suppress_in_group,
)

__all__ = [
    "MAX_PERSONALIZATIONS",
    "OutgoingEmail",
    "SendResult",
    "build_batch_payloads",
    "build_payload",
    "retry_delay",
    "send",
    "suppress_in_group",
]
