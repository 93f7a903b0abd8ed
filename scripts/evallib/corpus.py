"""The corpus: the original ten datasets and the widened twenty-one, each with its question."""

from __future__ import annotations

from evallib.keys import Dataset
from evallib.original import ORIGINAL
from evallib.series import SERIES
from evallib.tables import TABLES

CORPUS: list[Dataset] = [*ORIGINAL, *SERIES, *TABLES]
