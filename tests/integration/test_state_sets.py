"""The ticket's state sets have one source (services/tickets/states.py): SQL reads them
through migration 0017's functions, which must say the same as the Python, and no query
in the store spells a set of states out itself (issue 15)."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from services.tickets import states
from services.tickets.states import State

pytestmark = pytest.mark.integration
STORE = Path(__file__).parents[2] / "services" / "store"
_STATE_LIST = re.compile(
    r"\bIN\s*\(\s*'(" + "|".join(s.value for s in State) + r")'", re.IGNORECASE)

ARRAYS = {"ticket_done_states": states.DONE, "ticket_fixed_states": states.FIXED,
          "ticket_declined_states": states.DECLINED}
PREDICATES = {"ticket_is_done": states.DONE, "ticket_is_open": states.OPEN,
              "ticket_is_fixed": states.FIXED, "ticket_is_declined": states.DECLINED}


def test_the_sql_sets_are_the_python_sets(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        for function, expected in ARRAYS.items():
            row = conn.execute(f"SELECT {function}()".encode()).fetchone()
            assert row is not None
            assert set(row[0]) == {s.value for s in expected}, function
        for function, members in PREDICATES.items():
            for state in State:
                row = conn.execute(f"SELECT {function}(%s)".encode(), (state.value,)) \
                    .fetchone()
                assert row is not None
                assert row[0] is (state in members), f"{function}({state})"
            row = conn.execute(f"SELECT {function}(NULL)".encode()).fetchone()
            assert row is not None and row[0] is None, f"{function}(NULL) is NULL, as IN"


def test_the_python_sets_partition_the_states() -> None:
    assert frozenset(State) == states.OPEN | states.DONE
    assert not states.OPEN & states.DONE
    assert states.FIXED | states.DECLINED == states.DONE
    assert not states.FIXED & states.DECLINED
    assert states.TERMINAL < states.DONE and states.HANDLING < states.OPEN
    assert all(s.is_open is (s in states.OPEN) for s in State)


def test_no_store_query_spells_out_a_set_of_states() -> None:
    spelled = [f"{path.name}:{n}" for path in sorted(STORE.glob("*.py"))
               for n, line in enumerate(path.read_text("utf-8").splitlines(), start=1)
               if _STATE_LIST.search(line)]
    assert spelled == [], "use ticket_is_done(state) & co. (migration 0017) instead"
