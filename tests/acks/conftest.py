from tests.dispatch.conftest import company, operator  # noqa: F401 - shared fixtures
