"""Text messages through Asterisk's ``MessageSend`` action (out-of-call messaging, e.g. SIP MESSAGE).

``send_sms(client, to="101", body="Перезвоните клиенту")`` sends ``To: pjsip:101``. A body that is not
plain single-line ASCII goes as ``Base64Body`` (a manager header cannot carry a line break, and Base64
keeps any UTF-8 intact); Asterisk decodes at most 1300 bytes of it, so longer bodies are refused here
instead of being cut silently by the PBX.

Errors (Asterisk's ``main/message.c`` answers): ``Message technology not found.`` when no channel driver
registered that technology (no ``res_pjsip_messaging``, or a ``sip:`` address on a PJSIP-only PBX)
→ :class:`MessageTechnologyUnavailable`; ``Message failed to send.`` → :class:`MessageNotDelivered`;
other refusals → :class:`SmsFailed`. All are :class:`~ajam.errors.ActionFailed`.
"""

from __future__ import annotations

import base64

from ajam.client import ManagerClient
from ajam.client.base import Reply, check_reply
from ajam.errors import ActionFailed, HeaderInjection
from ajam.protocol.encode import check_header

BASE64_BODY_LIMIT = 1300  # bytes Asterisk decodes from Base64Body (char base64decoded[1301])


class SmsFailed(ActionFailed):
    """The PBX did not accept the message."""


class MessageTechnologyUnavailable(SmsFailed):
    """The PBX has no message technology for the destination (e.g. no ``res_pjsip_messaging``)."""


class MessageNotDelivered(SmsFailed):
    """The technology took the message but could not send it (unknown endpoint, no contact, …)."""


def destination(to: str, technology: str = "pjsip") -> str:
    """``101`` → ``pjsip:101``; an address with a technology (``pjsip:101``, ``sip:x@host``) is kept."""
    return to if ":" in to else f"{technology}:{to}"


def body_headers(body: str) -> list[tuple[str, str]]:
    """``Body`` for one line of printable ASCII, else ``Base64Body`` (UTF-8)."""
    if body.isascii() and body.isprintable():
        return [("Body", body)]
    encoded = body.encode("utf-8")
    if len(encoded) > BASE64_BODY_LIMIT:
        raise ValueError(
            f"message body is {len(encoded)} bytes in UTF-8; Asterisk accepts at most {BASE64_BODY_LIMIT} "
            "bytes in Base64Body"
        )
    return [("Base64Body", base64.b64encode(encoded).decode("ascii"))]


async def send_sms(
    client: ManagerClient,
    *,
    to: str,
    body: str,
    from_: str | None = None,
    technology: str = "pjsip",
    variables: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    """Send ``body`` to ``to`` (an extension/endpoint, or a full ``tech:address``); the PBX's reply.

    ``from_`` becomes the ``From`` header (e.g. ``"CRM" <sip:crm@pbx>``); ``variables`` are passed as
    ``Variable: name=value`` (message variables for the technology).
    """
    for what, value in (("to", to), ("from", from_ or "")):
        try:
            check_header(what, value)
        except HeaderInjection:
            raise HeaderInjection(
                f"MessageSend refused: the {what} address contains a CR, LF or NUL"
            ) from None
    if not to:
        raise ValueError("MessageSend needs a destination (to)")
    headers = [("To", destination(to, technology))]
    if from_:
        headers.append(("From", from_))
    headers.extend(body_headers(body))
    for name, value in (variables or {}).items():
        headers.append(("Variable", f"{name}={value}"))
    reply = await client.send("MessageSend", headers, timeout=timeout, check=False)
    if reply.ok:
        return reply
    message = reply.response.message
    lowered = message.lower()
    if "permission denied" in lowered:
        check_reply("MessageSend", reply)
    if "technology not found" in lowered:
        tech = headers[0][1].split(":", 1)[0]
        raise MessageTechnologyUnavailable(
            "MessageSend",
            f"{message} The PBX has no message technology {tech!r} (load res_pjsip_messaging for pjsip:, "
            "or address the message with a technology the PBX has)",
            reply,
        )
    if "failed to send" in lowered:
        raise MessageNotDelivered("MessageSend", f"{message} (is {to!r} a reachable endpoint?)", reply)
    raise SmsFailed("MessageSend", message, reply)
