"""Test-wide settings."""

from hypothesis import settings

# Shared CI machines have 2 cores and other jobs; a slow example is not a failure.
settings.register_profile("default", deadline=None)
settings.load_profile("default")
