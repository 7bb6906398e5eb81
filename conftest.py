"""Root conftest: rankkit's reusable fixtures for the core's and every plugin's tests."""

pytest_plugins = ["rankkit.testing"]
