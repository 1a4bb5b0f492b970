from tests.dispatch.conftest import (  # noqa: F401 - shared fixtures
    dispatcher,
    relay_settings,
    twilio,
)
