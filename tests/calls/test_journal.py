"""The call journal against SQLite and a real PostgreSQL server (started by the tests)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from ajam.calls.journal import CSV_COLUMNS, AsyncJournal, Journal, migrate, open_journal
from ajam.calls.journal.codec import EncodedCall, encode
from ajam.calls.journal.location import resolve
from ajam.calls.journal.schema import metadata
from ajam.calls.model import Call, Direction, Outcome, Party, Transfer
from ajam.errors import JournalError
from tests.support import postgres as postgres_support
from tests.support.postgres import PostgresServer, postgres_server  # noqa: F401  (pytest fixture)

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def make_call(call_id: str, *, at: float = T0, **changes: Any) -> Call:
    """An answered inbound call starting at ``at``; ``changes`` override any field."""
    call = Call(
        id=call_id,
        direction=Direction.INBOUND,
        caller=Party("+74951234567", "Пётр Иванов"),
        callee=Party("100", "Sales"),
        rang=["101", "102"],
        answered_by="102",
        outcome=Outcome.ANSWERED,
        cause=16,
        cause_text="Normal Clearing",
        started_at=at,
        ringing_at=at + 0.25,
        answered_at=at + 7.5,
        ended_at=at + 67.5,
        recording="/var/spool/asterisk/monitor/x.wav",
        extension_outcomes={"101": Outcome.ANSWERED_ELSEWHERE, "102": Outcome.ANSWERED},
    )
    for name, value in changes.items():
        setattr(call, name, value)
    return call


def missed_call(call_id: str, outcome: Outcome, *, at: float = T0, **changes: Any) -> Call:
    return make_call(
        call_id, at=at, outcome=outcome, answered_by=None, answered_at=None, extension_outcomes={}, **changes
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "calls.db")
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def journal(journal_url: str) -> Iterator[Journal]:
    with open_journal(journal_url) as opened:
        yield opened


def ids(calls: list[Call]) -> list[str]:
    return [call.id for call in calls]


# -- round trip and upsert ------------------------------------------------------------------------------


def test_round_trip_is_exact(journal: Journal) -> None:
    call = make_call(
        "1700000000.1",
        started_at=T0 + 0.0004,  # sub-millisecond: lost by the ISO text, kept by the journal
        answered_at=T0 + 5.0001,
        transfers=[
            Transfer("blind", "102", "+74951234567", "103", T0 + 30.123456),
            Transfer("attended", "103", "Анна", "104", None),
        ],
        queue="support",
    )
    journal.store(call)
    stored = journal.get(call.id)
    assert stored is not None
    assert stored.to_json() == call.to_json()
    assert stored == call
    assert stored.caller.name == "Пётр Иванов"


def test_round_trip_with_nothing_known(journal: Journal) -> None:
    bare = Call(id="bare", direction=Direction.OUTBOUND)
    journal.store(bare)
    stored = journal.get("bare")
    assert stored is not None and stored.to_json() == bare.to_json()
    assert stored.outcome is None and stored.started_at is None and stored.wait_seconds is None


def test_get_unknown_call(journal: Journal) -> None:
    assert journal.get("nope") is None


def test_store_is_an_idempotent_upsert(journal: Journal) -> None:
    call = make_call("c1")
    journal.store(call)
    journal.store(call)
    assert journal.count() == 1
    changed = make_call(
        "c1", rang=["105"], answered_by="105", extension_outcomes={}, caller=Party("555", "Другой")
    )
    journal.store(changed)
    assert journal.count() == 1
    stored = journal.get("c1")
    assert stored is not None and stored.to_json() == changed.to_json()
    assert ids(journal.query(extension="105")) == ["c1"]
    assert journal.query(extension="101") == []  # the old extensions are replaced, not accumulated
    assert journal.query(number="+74951234567") == []


def test_store_many_is_one_transaction(journal: Journal) -> None:
    assert journal.store_many([make_call(f"m{i}", at=T0 + i) for i in range(5)]) == 5
    assert journal.count() == 5
    assert journal.store_many([]) == 0
    again = make_call("m1", outcome=Outcome.FAILED, answered_by=None, rang=["107"])
    assert journal.store_many([make_call("m1"), again]) == 1  # the same call twice: the last version wins
    stored = journal.get("m1")
    assert stored is not None and stored.to_json() == again.to_json()
    assert ids(journal.query(extension="107")) == ["m1"]
    with pytest.raises(ValueError, match="non-empty string id"):
        journal.store_many([make_call("m8"), Call(id=None)])  # type: ignore[arg-type]
    # The database refuses the last statement of a batch (duplicate extension rows): nothing is kept.
    good = encode(make_call("m9", at=T0 + 9), stored_at=T0)
    broken = encode(make_call("m10", at=T0 + 10), stored_at=T0)
    broken = EncodedCall(broken.call_id, broken.call_row, broken.extension_rows * 2)
    with pytest.raises(JournalError, match="storing calls failed on"):
        journal.store_encoded([good, broken])
    assert journal.get("m8") is None and journal.get("m9") is None and journal.count() == 5


# -- filters -------------------------------------------------------------------------------------------


def test_filter_by_number_exact_and_pattern(journal: Journal) -> None:
    journal.store(make_call("in", caller=Party("+74951234567", "A")))
    journal.store(
        make_call(
            "out",
            direction=Direction.OUTBOUND,
            caller=Party("101", "Agent"),
            callee=Party("84957654321", "B"),
            at=T0 + 1,
        )
    )
    journal.store(make_call("odd", caller=Party("12_3%", "C"), at=T0 + 2))
    assert ids(journal.query(number="+74951234567")) == ["in"]
    assert ids(journal.query(number="84957654321")) == ["out"]  # the callee counts too
    assert journal.query(number="4567") == []  # exact unless it has wildcards
    assert ids(journal.query(number="*4567")) == ["in"]
    assert ids(journal.query(number="*495*")) == ["out", "in"]
    assert ids(journal.query(number="+7495???4567")) == ["in"]
    assert ids(journal.query(number="*_*")) == ["odd"]  # SQL wildcards are literal
    assert ids(journal.query(number="*%")) == ["odd"]


def test_filter_by_extension_covers_every_role(journal: Journal) -> None:
    journal.store(make_call("rang", rang=["101", "102"], answered_by="102"))
    journal.store(
        make_call(
            "placed",
            direction=Direction.OUTBOUND,
            caller=Party("103", "Agent"),
            callee=Party("84951112233", ""),
            rang=[],
            answered_by=None,
            extension_outcomes={},
            at=T0 + 1,
        )
    )
    journal.store(
        make_call(
            "internal",
            direction=Direction.INTERNAL,
            caller=Party("104", "A"),
            callee=Party("105", "B"),
            rang=[],
            answered_by=None,
            outcome=Outcome.BUSY,
            extension_outcomes={},
            at=T0 + 2,
        )
    )
    journal.store(make_call("answered-only", rang=[], answered_by="106", extension_outcomes={}, at=T0 + 3))
    assert ids(journal.query(extension="101")) == ["rang"]
    assert ids(journal.query(extension="102")) == ["rang"]
    assert ids(journal.query(extension="103")) == ["placed"]
    assert ids(journal.query(extension="104")) == ["internal"]
    assert ids(journal.query(extension="105")) == ["internal"]
    assert ids(journal.query(extension="106")) == ["answered-only"]
    assert journal.query(extension="999") == []


def test_filter_by_period_since_inclusive_until_exclusive(journal: Journal) -> None:
    for hour in range(4):
        journal.store(make_call(f"h{hour}", at=T0 + hour * 3600))
    assert ids(journal.query(since=T0 + 3600, until=T0 + 3 * 3600)) == ["h2", "h1"]
    assert ids(journal.query(since=T0 + 3 * 3600)) == ["h3"]
    assert ids(journal.query(until=T0 + 1)) == ["h0"]
    aware = datetime.fromtimestamp(T0 + 3600, UTC)
    assert ids(journal.query(since=aware, until=T0 + 3601)) == ["h1"]
    with pytest.raises(ValueError, match="timezone-aware"):
        journal.query(since=datetime(2023, 11, 14))


def test_period_uses_first_known_time_when_start_is_unknown(journal: Journal) -> None:
    journal.store(
        make_call(
            "late",
            started_at=None,
            ringing_at=None,
            answered_at=None,
            outcome=Outcome.UNKNOWN_END,
            ended_at=T0 + 7200,
        )
    )
    assert ids(journal.query(since=T0 + 7000, until=T0 + 7300)) == ["late"]


def test_filter_by_outcome_and_direction(journal: Journal) -> None:
    journal.store(make_call("a"))
    journal.store(missed_call("b", Outcome.BUSY, at=T0 + 1))
    journal.store(missed_call("n", Outcome.NO_ANSWER, at=T0 + 2, direction=Direction.OUTBOUND))
    assert ids(journal.query(outcome="busy")) == ["b"]
    assert ids(journal.query(outcome=["busy", "no_answer"])) == ["n", "b"]
    assert ids(journal.query(outcome=("answered",), direction="inbound")) == ["a"]
    assert ids(journal.query(direction="outbound")) == ["n"]
    with pytest.raises(ValueError, match="unknown outcome 'bussy'"):
        journal.query(outcome="bussy")
    with pytest.raises(ValueError, match="unknown direction"):
        journal.query(direction="sideways")


def test_missed_means_inbound_and_not_answered(journal: Journal) -> None:
    missed_outcomes = [
        Outcome.NO_ANSWER,
        Outcome.BUSY,
        Outcome.CANCELLED,
        Outcome.ABANDONED,
        Outcome.FAILED,
        Outcome.CONGESTION,
        Outcome.UNKNOWN_END,
    ]
    for index, outcome in enumerate(missed_outcomes):
        journal.store(missed_call(f"missed-{outcome}", outcome, at=T0 + index))
    journal.store(make_call("answered", at=T0 + 20))
    journal.store(make_call("vanished-after-answer", outcome=Outcome.UNKNOWN_END, at=T0 + 21))
    journal.store(
        missed_call("outbound-no-answer", Outcome.NO_ANSWER, at=T0 + 22, direction=Direction.OUTBOUND)
    )
    journal.store(missed_call("internal-busy", Outcome.BUSY, at=T0 + 23, direction=Direction.INTERNAL))
    found = journal.query(missed=True)
    assert ids(found) == [f"missed-{outcome}" for outcome in reversed(missed_outcomes)]
    assert journal.count(missed=True) == len(missed_outcomes)
    assert ids(journal.query(missed=True, outcome="busy", number="+74951234567")) == ["missed-busy"]
    assert ids(journal.query(missed=True, extension="101", since=T0 + 6)) == ["missed-unknown_end"]


def test_pagination_newest_first(journal: Journal) -> None:
    for index in range(25):
        journal.store(make_call(f"p{index:02d}", at=T0 + index * 60))
    journal.store(make_call("tie-b", at=T0 + 10_000))
    journal.store(make_call("tie-a", at=T0 + 10_000))
    everything = ids(journal.query(limit=None))
    assert everything[:2] == ["tie-b", "tie-a"]  # same moment: by id, descending, deterministically
    assert everything[2:] == [f"p{index:02d}" for index in reversed(range(25))]
    pages = [ids(journal.query(limit=10, offset=offset)) for offset in (0, 10, 20, 30)]
    assert [len(page) for page in pages] == [10, 10, 7, 0]
    assert [call_id for page in pages for call_id in page] == everything
    assert len(journal.query()) == 27  # default limit 100
    with pytest.raises(ValueError):
        journal.query(limit=-1)
    with pytest.raises(ValueError):
        journal.query(offset=-5)


# -- CSV and statistics --------------------------------------------------------------------------------


def test_export_csv(journal: Journal, tmp_path: Path) -> None:
    journal.store(make_call("answered", transfers=[Transfer("blind", "102", "+74951234567", "103", T0 + 9)]))
    journal.store(
        missed_call(
            "missed", Outcome.NO_ANSWER, at=T0 + 60, caller=Party("+74950000000", '=HYPERLINK("http://x")')
        )
    )
    target = tmp_path / "calls.csv"
    with target.open("w", encoding="utf-8", newline="") as out:
        assert journal.export_csv(out) == 2
    rows = list(csv.reader(target.open(encoding="utf-8", newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [record["id"] for record in records] == ["missed", "answered"]
    missed, answered = records
    assert answered["caller_name"] == "Пётр Иванов"
    assert answered["caller_number"] == "+74951234567"  # a phone number is not a formula
    assert answered["started_at"] == "2023-11-14T22:13:20.000+00:00"
    assert answered["wait_seconds"] == "7.5" and answered["talk_seconds"] == "60.0"
    assert answered["rang"] == "101 102" and answered["cause"] == "16"
    assert json.loads(answered["transfers"])[0]["target"] == "103"
    assert missed["answered_by"] == "" and missed["answered_at"] == "" and missed["transfers"] == ""
    assert missed["caller_name"] == '\'=HYPERLINK("http://x")'
    filtered = io.StringIO()
    assert journal.export_csv(filtered, missed=True) == 1
    assert filtered.getvalue().splitlines()[1].startswith("missed,inbound,")
    raw = io.StringIO()
    journal.export_csv(raw, guard_formulas=False, limit=1)
    assert ',"=HYPERLINK(""http://x"")",' in raw.getvalue()


def test_stats_per_queue(journal: Journal) -> None:
    journal.store(make_call("s1", queue="support", answered_at=T0 + 10))
    journal.store(make_call("s2", queue="support", at=T0 + 60, answered_at=T0 + 60 + 30))
    journal.store(missed_call("s3", Outcome.ABANDONED, queue="support", at=T0 + 120, ended_at=T0 + 120 + 45))
    journal.store(missed_call("s4", Outcome.NO_ANSWER, queue="support", at=T0 + 180, ended_at=T0 + 180 + 300))
    journal.store(make_call("b1", queue="billing", at=T0 + 240, answered_at=T0 + 240 + 4))
    journal.store(make_call("no-queue", at=T0 + 300))
    journal.store(make_call("too-late", queue="support", at=T0 + 7200))
    (support,) = journal.stats(since=T0, until=T0 + 3600, queue="support")
    assert (support.calls, support.answered, support.abandoned, support.unanswered) == (4, 2, 1, 1)
    assert support.average_wait == 20.0  # of the answered calls: (10 + 30) / 2
    assert support.max_wait == 300.0
    assert support.calls_per_hour == 4.0
    every = journal.stats(since=T0, until=T0 + 2 * 3600)
    assert [(row.queue, row.calls, row.calls_per_hour) for row in every] == [
        ("billing", 1, 0.5),
        ("support", 4, 2.0),
    ]
    assert every[0].to_json()["average_wait"] == 4.0
    (empty,) = journal.stats(since=T0, until=T0 + 60, queue="sales")
    assert (empty.queue, empty.calls, empty.average_wait) == ("sales", 0, None)
    with pytest.raises(ValueError):
        journal.stats(since=T0, until=T0)


# -- durability ----------------------------------------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], check=False, capture_output=True, text=True, timeout=60
    )


def test_another_process_sees_a_stored_call(journal: Journal, journal_url: str) -> None:
    journal.store(make_call("shared"))
    result = run_python(f"""
        from ajam.calls.journal import open_journal
        import json
        with open_journal({journal_url!r}) as journal:
            print(json.dumps(journal.get("shared").to_json()))
    """)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == make_call("shared").to_json()


def test_call_survives_kill_9_right_after_store(journal_url: str) -> None:
    open_journal(journal_url).close()  # migrate first, so the child only stores
    result = run_python(f"""
        import os, signal
        from ajam.calls.journal import open_journal
        from tests.calls.test_journal import make_call
        journal = open_journal({journal_url!r})
        journal.store(make_call("killed"))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert result.returncode == -signal.SIGKILL, result.stderr
    with open_journal(journal_url) as journal:
        stored = journal.get("killed")
    assert stored is not None and stored.to_json() == make_call("killed").to_json()


# -- migrations ----------------------------------------------------------------------------------------


def test_fresh_database_is_migrated_by_upgrade(journal_url: str) -> None:
    with open_journal(journal_url, upgrade=False) as journal:
        assert journal.revision() is None
        with pytest.raises(JournalError, match="storing a call failed"):
            journal.store(make_call("too-early"))
        journal.upgrade()
        assert journal.revision() == migrate.head_revision() == "0001"
        journal.store(make_call("kept"))
        journal.upgrade()  # a second upgrade changes nothing
        assert journal.revision() == "0001"
        assert ids(journal.query()) == ["kept"]
    url = resolve(journal_url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            assert {"calls", "call_extensions", "alembic_version"} <= tables
            indexes = {index["name"] for index in inspect(connection).get_indexes("call_extensions")}
            assert "ix_call_extensions_extension" in indexes
            # the migrations build exactly the schema the code uses
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
            assert differences == []
    finally:
        engine.dispose()


def test_concurrent_first_opens_migrate_once(journal_url: str) -> None:
    errors: list[BaseException] = []

    def open_and_store(index: int) -> None:
        try:
            with open_journal(journal_url) as journal:
                journal.store(make_call(f"t{index}", at=T0 + index))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=open_and_store, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with open_journal(journal_url) as journal:
        assert journal.count() == 4 and journal.revision() == "0001"


# -- threads, asyncio ----------------------------------------------------------------------------------


def test_store_from_many_threads(journal: Journal) -> None:
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for index in range(20):
                journal.store(make_call(f"w{worker}-{index}", at=T0 + index))
                journal.query(extension="101", limit=5)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert journal.count() == 120


async def test_async_journal_works_off_the_event_loop(journal_url: str) -> None:
    async with await AsyncJournal.open(journal_url) as journal:
        used_threads: set[str] = set()
        write = journal.journal.store_encoded

        def recording_write(records: Any) -> int:
            used_threads.add(threading.current_thread().name)
            time.sleep(0.2)  # a slow disk: the loop must keep running meanwhile
            return write(records)

        journal.journal.store_encoded = recording_write  # type: ignore[method-assign]
        call = make_call("async")
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        storing = asyncio.create_task(journal.store(call))
        await asyncio.sleep(0)  # the store has snapshotted the call; later changes are not stored
        call.outcome = Outcome.FAILED
        await storing
        ticking.cancel()
        assert ticks >= 5
        assert used_threads and all(name.startswith("ajam-journal") for name in used_threads)
        stored = await journal.get("async")
        assert stored is not None and stored.outcome is Outcome.ANSWERED
        assert ids(await journal.query(extension="102")) == ["async"]
        assert await journal.count(missed=True) == 0
        assert await journal.store_many([make_call("async-2", at=T0 + 1, queue="q")]) == 1
        assert [row.queue for row in await journal.stats(since=T0, until=T0 + 60)] == ["q"]
        out = io.StringIO()
        assert await journal.export_csv(out) == 2
    assert journal.journal.closed


def test_memory_journal_is_thread_safe() -> None:
    with open_journal(":memory:") as journal:

        def writer(worker: int) -> None:
            for index in range(10):
                journal.store(make_call(f"{worker}-{index}"))
                journal.query(limit=3)

        threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert journal.count() == 40


def test_closed_journal_refuses_work(tmp_path: Path) -> None:
    journal = open_journal(str(tmp_path / "c.db"))
    journal.close()
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.store(make_call("x"))


# -- locations and secrets -----------------------------------------------------------------------------


def test_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AJAM_JOURNAL", str(tmp_path / "env" / "calls.db"))
    with open_journal(None) as journal:
        journal.store(make_call("default"))
        assert journal.backend == "sqlite"
    assert (tmp_path / "env" / "calls.db").exists()
    with open_journal(f"sqlite:///{tmp_path / 'env' / 'calls.db'}") as journal:
        assert ids(journal.query()) == ["default"]
    assert resolve("postgres://u:p@db/x").drivername == "postgresql+psycopg"
    assert resolve("postgresql://u:p@db/x").drivername == "postgresql+psycopg"
    with pytest.raises(JournalError, match="unsupported journal database mysql://u:\\*\\*\\*@db/x"):
        open_journal("mysql://u:hunter2@db/x")


def test_password_never_in_errors(postgres_server: PostgresServer) -> None:  # noqa: F811
    good = postgres_server.url()
    wrong = good.replace(postgres_server.password, "Wr0ng-Pa55word")
    with pytest.raises(JournalError) as refused:
        open_journal(wrong)
    text = str(refused.value)
    assert "Wr0ng-Pa55word" not in text and postgres_server.password not in text
    assert "ajam:***@127.0.0.1" in text and "password authentication failed" in text
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    for bad in (
        "postgresql://ajam:S3cret-Pa55@127.0.0.1:notaport/db",
        "postgresql://ajam:S3cret-Pa55@[::1/db",
    ):
        with pytest.raises(JournalError) as malformed:
            open_journal(bad)
        assert "S3cret-Pa55" not in str(malformed.value)
    with open_journal(good) as journal:
        assert postgres_server.password not in repr(journal) and "***" in journal.name


@pytest.mark.parametrize(("required", "outcome"), [("1", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_postgres_binaries_are_reported(
    monkeypatch: pytest.MonkeyPatch, required: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(postgres_support, "find_binaries", lambda: None)
    monkeypatch.setenv(postgres_support.REQUIRE_ENV, required)
    with pytest.raises(outcome, match="initdb/pg_ctl not found; install PostgreSQL"):
        postgres_support.start_server()
