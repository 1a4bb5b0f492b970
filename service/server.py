"""How `relay serve` runs the app under uvicorn: a bounded request head, a redacted access log."""

from __future__ import annotations

import copy
import logging
from typing import Any

from fastapi import FastAPI

from service.errors import RelayError, error_json
from service.http_limits import MAX_HEAD_BYTES
from service.i18n import DEFAULT_LOCALE, N_
from service.observability import RedactPathsFilter

log = logging.getLogger(__name__)


def _head_too_large() -> RelayError:
    return RelayError(
        N_("The request line and headers are over %(size)s KiB."),
        status=431,
        code="headers_too_large",
        size=MAX_HEAD_BYTES // 1024,
    )


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with acknowledgement tokens kept out of the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_paths"] = {"()": RedactPathsFilter}
    config["handlers"]["access"]["filters"] = ["redact_paths"]
    return config


def http_protocol() -> Any:
    """uvicorn's httptools protocol bounded to MAX_HEAD_BYTES, or "h11" without httptools.

    httptools (uvicorn's choice when installed) reads a request head of any size; h11 is
    bounded by `h11_max_incomplete_event_size` instead.
    """
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
        return "h11"

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """Refuses a request whose line and headers pass MAX_HEAD_BYTES with 431, and closes.

        An unfinished head is counted as it arrives, so an endless header is cut off early; a
        finished one is measured as parsed, before the app sees it.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.head_bytes = 0  # of the head being received, as far as it has arrived
            self.in_body = False
            self.refused = False

        def data_received(self, data: bytes) -> None:
            if self.refused:
                return
            if not self.in_body:
                self.head_bytes += len(data)  # reset once the head is complete
            super().data_received(data)
            if not self.refused and not self.in_body and self.head_bytes > MAX_HEAD_BYTES:
                self.refuse_head()

        def on_url(self, url: bytes) -> None:
            if not self.refused:
                super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            if not self.refused:
                super().on_header(name, value)

        def on_headers_complete(self) -> None:
            if self.refused:
                return
            parsed = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if parsed > MAX_HEAD_BYTES:
                self.refuse_head()
                return
            self.head_bytes = 0
            self.in_body = True
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self.refused:
                super().on_body(body)

        def on_message_complete(self) -> None:
            if self.refused:
                return
            self.in_body = False
            super().on_message_complete()

        def refuse_head(self) -> None:
            self.refused = True
            log.warning("request head over %d bytes refused with 431", MAX_HEAD_BYTES)
            # Refused before its headers are read, so in the default language.
            body = error_json(_head_too_large().body(DEFAULT_LOCALE))
            lines = [b"HTTP/1.1 431 Request Header Fields Too Large"]
            lines += [name + b": " + value for name, value in self.server_state.default_headers]
            lines += [
                b"content-type: application/json",
                b"content-length: " + str(len(body)).encode("ascii"),
                b"connection: close",
            ]
            self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
            self.transport.close()

    return BoundedHttpToolsProtocol


# How long a stopping server lets its open requests finish. A console's event stream never
# finishes by itself, so without a bound a server with a console open would never stop; the
# consoles reconnect to another process.
GRACEFUL_SHUTDOWN_SECONDS = 5


def serve(app: FastAPI, *, host: str, port: int) -> None:
    """Serve `app` until interrupted."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=False,
        log_level="info",
        log_config=log_config(),
        http=http_protocol(),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
