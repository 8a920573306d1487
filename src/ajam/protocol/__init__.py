"""Sans-I/O manager protocol: messages, the AMI stream parser, AJAM body parsers, encoders, login rules.

Nothing here touches a socket: bytes in, messages out (in the style of h11 and wsproto).
"""

from ajam.protocol.encode import encode_action, query_pairs
from ajam.protocol.message import Action, Event, Message, Response
from ajam.protocol.stream import Banner, StreamParser, parse_messages

__all__ = [
    "Action",
    "Banner",
    "Event",
    "Message",
    "Response",
    "StreamParser",
    "encode_action",
    "parse_messages",
    "query_pairs",
]
