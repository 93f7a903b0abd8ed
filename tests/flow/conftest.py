"""The AI summary's fake model and sales file, as tests/insights has them."""

from tests.insights.fake_model import data_file, fake_model  # noqa: F401  # fixtures of this folder
