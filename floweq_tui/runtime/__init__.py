"""What every child process of floweq-tui shares: spawning, typed requests, stopping, health.

The engine and the MIDI service are children of the UI (or headless) process. They are
started, asked and stopped through one base (:mod:`.child`) and watched by one supervisor
with one restart policy, so a fault in either is recovered and reported the same way.
"""

from .child import (
    Channel,
    ChildError,
    ChildProcess,
    Handler,
    Reply,
    Request,
    one_line,
)
from .supervisor import ChildHealth, ChildState, RestartPolicy, Supervised, Supervisor

__all__ = [
    "Channel",
    "ChildError",
    "ChildHealth",
    "ChildProcess",
    "ChildState",
    "Handler",
    "Reply",
    "Request",
    "RestartPolicy",
    "Supervised",
    "Supervisor",
    "one_line",
]
