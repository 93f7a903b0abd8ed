"""The corpus: the original ten datasets, the widened twenty-one and four held out, each with its
question."""

from __future__ import annotations

from evallib.heldout import HELDOUT
from evallib.keys import Dataset
from evallib.original import ORIGINAL
from evallib.series import SERIES
from evallib.tables import TABLES

CORPUS: list[Dataset] = [*ORIGINAL, *SERIES, *TABLES, *HELDOUT]
