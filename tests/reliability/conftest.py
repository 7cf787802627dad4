from tests.slack.conftest import stack  # noqa: F401 - the same loopback stack
