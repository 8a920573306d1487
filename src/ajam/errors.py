"""Every error ajam raises, in one leaf module that all layers may import.

Messages never contain secrets: errors that concern a login name the user, never the password or key.
"""

from __future__ import annotations


class AjamError(Exception):
    """Base class of every ajam error."""


class ProtocolError(AjamError):
    """The bytes on the wire do not follow the manager protocol."""


class RemoteProtocolError(ProtocolError):
    """The PBX (or whatever answered) sent something that is not valid manager protocol."""


class MessageTooLarge(RemoteProtocolError):
    """A message grew past the configured maximum size; the parser skips to the next blank line."""


class LocalProtocolError(ProtocolError, ValueError):
    """We were asked to send something that the protocol cannot carry safely."""


class HeaderInjection(LocalProtocolError):
    """A CR, LF or NUL in an action key or value: it could smuggle a second action into the PBX."""


class ConnectionFailed(AjamError):
    """The PBX could not be reached, or the connection was lost."""


class ConnectionLost(ConnectionFailed):
    """The connection dropped while an action was waiting for its response."""


class NotPublished(ConnectionFailed):
    """The HTTP server answers, but the manager is not published on the requested path."""


class TransportMismatch(ConnectionFailed):
    """The peer speaks another protocol than the URL promised (TLS vs plain, HTTP vs AMI)."""


class AuthenticationFailed(AjamError):
    """The PBX refused the username/secret (or digest credentials)."""


class ActionFailed(AjamError):
    """The PBX answered an action with ``Response: Error``."""

    def __init__(self, action: str, message: str, response: object | None = None) -> None:
        super().__init__(f"{action} failed: {message}" if message else f"{action} failed")
        self.action = action
        self.message = message
        self.response = response


class PermissionDenied(ActionFailed):
    """The manager user lacks the class an action needs (``Response: Error / Message: Permission denied``)."""

    def __init__(self, action: str, required: tuple[str, ...] = (), response: object | None = None) -> None:
        hint = f" (needs write class {' or '.join(required)})" if required else ""
        super().__init__(action, f"Permission denied{hint}", response)
        self.required = required


class ActionTimeout(AjamError, TimeoutError):
    """No complete response arrived within the timeout."""


class SessionExpired(AjamError):
    """The AJAM session (mansession_id) is no longer valid on the server."""


class JournalError(AjamError):
    """The call journal's database could not be opened, migrated, read or written.

    The message names the database with its password hidden (``postgresql://user:***@host/db``).
    """
