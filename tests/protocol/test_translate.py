"""The port of Asterisk's ``xml_translate``: line cutting, trimming, names, escapes, counters."""

from __future__ import annotations

from ajam.protocol.translate import escape_value, rawman_text, translate, xml_attribute_name, xml_name


def test_xml_names_follow_xml_copy_escape() -> None:
    assert xml_attribute_name("CallerIDNum") == "calleridnum"
    assert xml_attribute_name("Cause-txt") == "cause_txt"
    assert xml_attribute_name("ChanVariable(FOO)") == "chanvariable_foo_"
    assert xml_attribute_name("1st") == "_1st"
    assert xml_name("É".encode()) == b"__"


def test_values_escape_only_the_five_markup_characters() -> None:
    assert escape_value(b"a<b>&'\"\tz") == b"a&lt;b&gt;&amp;&apos;&quot;\tz"
    assert escape_value(b"plain") == b"plain"


def test_lines_are_cut_at_cr_or_lf_and_trimmed() -> None:
    text = b"Event: A  \r\nKey:   spaced value \t\r\nBare: lf\nEmpty:\r\n\r\nEvent: B\r\n\r\n"
    assert translate(text, xml=True) == (
        b"<response type='object' id='unknown'><generic event='A' key='spaced value' bare='lf' empty='' />"
        b"</response>\n<response type='object' id='unknown'><generic event='B' /></response>\n"
    )


def test_counters_are_case_sensitive_like_asterisk() -> None:
    text = b"Output: 1\r\nOutput: 2\r\noutput: 3\r\n\r\n"
    assert b"output='1' output-2='2' output='3'" in translate(text, xml=True)


def test_text_stops_at_nul_and_unterminated_message_is_closed() -> None:
    assert translate(b"Event: A\r\nX: y\0Z: w", xml=True) == (
        b"<response type='object' id='unknown'><generic event='A' x='y' /></response>\n"
    )
    assert translate(b"", xml=False) == b""


def test_rawman_text() -> None:
    assert rawman_text([[("A", "1")], [("B", "2")]]) == b"A: 1\r\n\r\nB: 2\r\n\r\n"
