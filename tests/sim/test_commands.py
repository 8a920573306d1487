from __future__ import annotations

from ajam.sim.commands import best_match, format_duration, module_lines, permission_mask, unknown_command_line


def test_uptime_text_like_asterisk() -> None:
    assert format_duration(33) == "33 seconds"
    assert format_duration(164) == "2 minutes, 44 seconds"
    assert format_duration(3601) == "1 hour, 0 minutes, 1 second"


def test_unknown_command_hint_follows_find_best() -> None:
    assert unknown_command_line("no such command here") == (
        "No such command 'no such command here' (type 'core show help no such' for other possible commands)"
    )
    assert best_match(["core", "show", "nothing", "at", "all"]) == "core show nothing at"
    assert best_match(["frob"]) == "frob"


def test_module_table_matches_the_capture() -> None:
    lines = module_lines("manager")
    assert (
        lines[0]
        == "Module                         Description                              Use Count  Status      Support Level"
    )
    assert lines[1] == (
        "cdr_manager.so                 Asterisk Manager Interface CDR Backend   0          Running              core"
    )
    assert lines[-1] == "5 modules loaded"


def test_permission_masks() -> None:
    assert permission_mask(frozenset({"call"})) == 2
    assert permission_mask(frozenset({"system", "originate"})) == 1 + 4096
