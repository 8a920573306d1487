"""Every non-call capture, replayed against the simulator, gets Asterisk's answers (modulo varying values)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ajam.sim.server import SimulatedPbx
from tests.sim.replay import Side, normalise_headers, replay
from tests.sim.script_from_capture import seed_prior_calls
from tests.support.transcripts import load, transcript_paths

NON_CALL = [
    "ami_01", "ami_02", "ami_03", "ami_04_", "ami_04b", "ami_05", "ami_06", "ami_08", "ami_09", "ami_10",
    "ami_11", "ami_12", "ami_13", "ami_40", "ami_50", "ami_60",
    "http_01_", "http_01b", "http_02", "http_03", "http_04", "http_05_", "http_06", "http_07", "http_08",
    "http_09", "http_11", "http_12", "http_13", "http_14", "http_15_", "http_15b", "http_15c", "http_16",
    "http_17", "http_18", "http_19", "http_20",
]  # fmt: skip
# Captures that need live calls from the call model (ajam.sim.pbx / scenarios).
CALLS = ["ami_07", "http_05b", "http_10"]


def _paths(prefixes: list[str]) -> list[Any]:
    paths = transcript_paths()
    if not paths:
        return [pytest.param(None, marks=pytest.mark.skip(reason="ground-truth captures not found"))]
    chosen = [p for p in paths if any(p.stem.startswith(prefix) for prefix in prefixes)]
    return [pytest.param(p, id=p.stem) for p in chosen]


def _settings(name: str) -> dict[str, Any]:
    """Simulator settings a capture needs (short timeouts instead of Asterisk's 1 s / 15 s / 30 s waits)."""
    settings: dict[str, Any] = {"login_failure_delay": 0.05, "authtimeout": 30.0, "keep_alive": 15.0}
    if not name.startswith("sip_"):
        settings["dialplan"] = "local"  # the Local-channel captures ran without the SIP configuration
    if name.startswith("ami_13"):
        settings["authtimeout"] = 0.3
    if name.startswith("http_18"):
        settings["keep_alive"] = 0.3
    if name.startswith("http_17"):
        settings["webenabled"] = False
    return settings


# how the SIPp phones answered in a capture (the default plays each scenario as captured)
ENDPOINT_BEHAVIOURS = {"sip_11": {"101": "busy"}, "sip_12": {"carrier": "busy"}}


def test_every_non_call_capture_is_listed() -> None:
    names = [p.stem for p in transcript_paths("ami_*.txt") + transcript_paths("http_*.txt")]
    if not names:
        pytest.skip("ground-truth captures not found")
    call_like = ("ami_2", "ami_3", "ami_41", "ami_42", "ami_61")
    for name in names:
        if name.startswith(call_like):
            continue
        assert any(name.startswith(p) for p in NON_CALL + CALLS), name


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path", _paths(NON_CALL))
async def test_replay_matches_capture(path: Path) -> None:
    transcript = load(path)
    async with SimulatedPbx(**_settings(transcript.name)) as sim:
        report = await replay(transcript, host="127.0.0.1", ami_port=sim.ami_port, http_port=sim.http_port)
    report.assert_matches()


SIP_SCENARIOS = {
    "sip_01": "sip_inbound_answered_recorded", "sip_02": "sip_inbound_busy", "sip_03": "sip_inbound_noanswer",
    "sip_04": "sip_inbound_caller_cancel", "sip_05": "sip_ringgroup", "sip_06": "sip_queue_answered",
    "sip_07": "sip_queue_abandoned", "sip_08": "sip_internal", "sip_09": "sip_click_to_call",
    "sip_10": "sip_blind_transfer", "sip_11": "sip_originate_agent_busy", "sip_12": "sip_outbound_busy",
}  # fmt: skip
CALL_CAPTURES = ["ami_07", "ami_2", "ami_3", "ami_41", "ami_42", "ami_61", "http_05b", "http_10", "sip_"]
SPEED = 10.0
# Known differences, each with its reason; every other call capture must match exactly.
KNOWN_DIFFERENCES: dict[str, str] = {}


def _call_paths() -> list[Any]:
    params = _paths(CALL_CAPTURES)
    for index, param in enumerate(params):
        reason = KNOWN_DIFFERENCES.get(str(param.id)[:6]) if param.id else None
        if reason:
            params[index] = pytest.param(
                *param.values, id=param.id, marks=pytest.mark.xfail(reason=reason, strict=True)
            )
    return params


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", _call_paths())
async def test_replay_call_capture(path: Path) -> None:
    """Call captures replayed with the call model at SPEED x (client pauses scaled to match)."""
    transcript = load(path)
    async with SimulatedPbx(speed=SPEED, seed=1, **_settings(transcript.name)) as sim:
        seed_prior_calls(sim.pbx.board, transcript.name, sim.pbx.clock.now())
        for endpoint, behaviour in ENDPOINT_BEHAVIOURS.get(transcript.name[:6], {}).items():
            sim.pbx.set_endpoint_behaviour(endpoint, behaviour)
        scenario = SIP_SCENARIOS.get(transcript.name[:6])
        tasks: list[asyncio.Task[None]] = []

        def start_call(note: str) -> None:
            if scenario is not None and note.startswith("start sipp UAC"):
                tasks.append(asyncio.create_task(sim.pbx.run_scenario(scenario)))

        report = await replay(
            transcript,
            host="127.0.0.1",
            ami_port=sim.ami_port,
            http_port=sim.http_port,
            time_scale=1 / SPEED,
            order="bursts",
            merge_waitevents=True,
            on_note=start_call,
        )
        await asyncio.gather(*tasks, return_exceptions=True)
    report.assert_matches()


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("stem", "settings"),
    [
        ("ami_08", {"version": "21.0.0"}),  # other version in the Command output
        ("ami_60", {"users": {}}),  # login refused
        ("http_01_", {"webenabled": False}),  # 404 instead of 200
        ("http_18", {"keep_alive": 5.0}),  # the idle connection stays open too long
        ("ami_03", {"login_failure_delay": 0.0, "authtimeout": 0.05}),  # still matches: only timing differs
    ],
)
async def test_checker_detects_a_different_server(stem: str, settings: dict[str, Any]) -> None:
    """The checker is not vacuous: a simulator configured differently fails it."""
    paths = [p for p in transcript_paths() if p.stem.startswith(stem)]
    if not paths:
        pytest.skip("ground-truth captures not found")
    transcript = load(paths[0])
    base = _settings(transcript.name)
    base.update(settings)
    async with SimulatedPbx(**base) as sim:
        report = await replay(
            transcript, host="127.0.0.1", ami_port=sim.ami_port, http_port=sim.http_port, timeout=1.0
        )
    if stem == "ami_03":
        report.assert_matches()
    else:
        assert report.mismatches


def test_normaliser_keeps_relations_between_ids() -> None:
    side = Side()
    pairs = normalise_headers(
        [("Uniqueid", "1795739100.47"), ("Linkedid", "1795739100.46"), ("Channel", "Local/a@t-00000017;2"),
         ("EventTV", "2026-11-27T00:25:00.077+0000"), ("Output", "System uptime: 2 minutes, 44 seconds")],
        side,
    )  # fmt: skip
    assert pairs == (
        ("Uniqueid", "<id1>"), ("Linkedid", "<id2>"), ("Channel", "Local/a@t-<chan1>;2"),
        ("EventTV", "<masked>"), ("Output", "System uptime: <uptime>"),
    )  # fmt: skip
