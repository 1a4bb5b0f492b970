from tests.dispatch.conftest import (  # noqa: F401 - shared fixtures
    company,
    dispatcher,
    operator,
    relay_settings,
    twilio,
)
