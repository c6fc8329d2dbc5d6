"""The suite runs with the allocator tuning the CLI and the plugin's fixtures use."""

from fftheory._memory import tune_allocator


def pytest_configure(config):
    tune_allocator()
