"""The simulated PBX: a fake Asterisk 22 speaking AMI (TCP) and AJAM (HTTP) on loopback.

Start one with :class:`SimulatedPbx` (async) or :func:`running_simulator` (a thread, for sync tests).
"""

from ajam.sim.server import SimulatedPbx, running_simulator

__all__ = ["SimulatedPbx", "running_simulator"]
