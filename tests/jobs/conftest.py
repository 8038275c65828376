"""Shared pieces of the job tests: the data tests' sample mix (prepared once) and the training
tests' mix directory."""

from tests.data.conftest import sample_cache, sample_prepared  # noqa: F401
from tests.train.conftest import mix_dir  # noqa: F401  (a fixture, found by pytest by name)
