"""Checking a refusal: its status, its stable code and the one error shape."""

from __future__ import annotations

import httpx

from service.errors import ErrorBody


def refused(response: httpx.Response, *, status: int, code: str | None = None) -> ErrorBody:
    """The body of `response`, once it is a `status` refusal in the one shape (with `code`)."""
    assert response.status_code == status, response.text
    body = ErrorBody.model_validate_json(response.content)
    assert body.status == status
    assert body.detail
    if code is not None:
        assert body.code == code, body
    return body
