"""Problem details returned by the Nylas webhook endpoint.

Nylas redelivers a notification only after 408, 429, 502, 503, 504 or 507. A failure that a
later attempt can fix (Nylas or the database unavailable, no secret configured yet) is therefore
503. A delivery that would fail the same way every time is 400, 401, 413 or 415.
"""

from http import HTTPStatus

from app.core.errors import ProblemError


class WebhookSecretNotConfigured(ProblemError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    problem_type = "webhook-secret-not-configured"
    title = "Webhook secret not configured"


class SignatureInvalid(ProblemError):
    status = HTTPStatus.UNAUTHORIZED
    problem_type = "webhook-signature-invalid"
    title = "Webhook signature invalid"


class PayloadTooLarge(ProblemError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    problem_type = "webhook-payload-too-large"
    title = "Webhook payload too large"


class UnsupportedEncoding(ProblemError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    problem_type = "webhook-encoding-unsupported"
    title = "Webhook content encoding not supported"


class InvalidDelivery(ProblemError):
    status = HTTPStatus.BAD_REQUEST
    problem_type = "webhook-delivery-invalid"
    title = "Webhook delivery invalid"


class WebhookUnavailable(ProblemError):
    """The delivery could not be applied now, and Nylas redelivers it after this 503."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    problem_type = "webhook-unavailable"
    title = "Webhook delivery not applied"
