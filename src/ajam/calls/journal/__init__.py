"""The call journal: every finished call stored durably (SQLite file or PostgreSQL), queried, exported.

>>> journal = open_journal("calls.db")            # or "postgresql://user:password@host/db"
>>> journal.store(call)                            # committed when it returns; same id = replaced
>>> journal.query(missed=True, since=time.time() - 86400)
"""

from ajam.calls.journal.aio import AsyncJournal
from ajam.calls.journal.csv_export import CSV_COLUMNS
from ajam.calls.journal.filters import MISSED_OUTCOMES
from ajam.calls.journal.journal import Journal, open_journal
from ajam.calls.journal.location import default_location
from ajam.calls.journal.stats import QueueStats

__all__ = [
    "CSV_COLUMNS",
    "MISSED_OUTCOMES",
    "AsyncJournal",
    "Journal",
    "QueueStats",
    "default_location",
    "open_journal",
]
