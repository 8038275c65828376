"""Job tests share the training tests' prepared mix."""

from tests.train.conftest import mix_dir  # noqa: F401  (a fixture, found by pytest by name)
