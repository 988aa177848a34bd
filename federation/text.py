"""The text policy: which characters text may hold, and how older stored text is cleaned (pure).

Every text an organizer or a peer gives us ends up in JSON, HTML pages, iCalendar feeds and
signed envelopes. What all of them carry safely, and what a reader expects of a title or a
slug, is narrower than what a Python string can hold:

- single-line text (titles, names, cities, slugs, tags, languages, URLs, query arguments)
  holds no control character at all (CR, LF and TAB included) and no line or paragraph
  separator (U+2028, U+2029), which some readers break lines on;
- multi-line text (descriptions, a call to action) may also hold LF and TAB: a line break is
  LF, never CR or CRLF (a lone CR is a line break to some calendar clients and not to others);
- no text holds NUL (PostgreSQL cannot store it), a lone surrogate (not Unicode: no database
  or encoder takes it) or a Unicode noncharacter (U+FFFE, U+FDD0...: a parse error in HTML).

Written by hand: this is a list of code points, not something a library decides for us.
"""

from __future__ import annotations

import re

# Plane-final noncharacters (U+1FFFE, U+1FFFF ... U+10FFFF), beside U+FDD0..U+FDEF and U+FFFE/F.
_PLANE_NONCHARACTERS = "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(1, 17)
)
_NEVER = "\x00\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff" + _PLANE_NONCHARACTERS
_SINGLE_LINE_REFUSED = re.compile(f"[{_NEVER}\x01-\x1f\x7f-\x9f\u2028\u2029]")
_MULTI_LINE_REFUSED = re.compile(f"[{_NEVER}\x01-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")

# What readers take as the end of a line: CRLF first, so that it becomes one break, not two.
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def refusal(text: str, *, multiline: bool = False) -> str | None:
    """Why `text` breaks the policy (naming the first offending character), or None."""
    if text.isprintable():
        # Every character the policy refuses is one Python calls unprintable (Cc, Cs, Cn,
        # Zl, Zp): most text is decided by this one C-speed pass.
        return None
    found = (_MULTI_LINE_REFUSED if multiline else _SINGLE_LINE_REFUSED).search(text)
    if found is None:
        return None
    char, where = found.group(), found.start()
    code = f"U+{ord(char):04X} at position {where}"
    if char == "\x00":
        return "Must not contain NUL characters."
    if "\ud800" <= char <= "\udfff":
        return f"Must be valid Unicode text: a lone surrogate ({code})."
    if _LINE_BREAK.fullmatch(char) or char == "\t":
        if multiline:
            return f"Line breaks must be LF (U+000A): found {code}."
        return f"Must be a single line: found a line break or tab ({code})."
    if char <= "\x9f":
        allowed = "; only LF (U+000A) and TAB are allowed" if multiline else ""
        return f"Must not contain control characters: found {code}{allowed}."
    return f"Must not contain Unicode noncharacters: found {code}."


def is_blank(text: str) -> bool:
    """Nothing a reader could see: empty, or whitespace and invisible format characters only."""
    return not text.strip() or not _VISIBLE.search(text)


# Anything but whitespace and the invisible format characters (zero-width space, joiners, bidi
# controls, BOM, soft hyphen) that would make a "title" of nothing look like one.
_VISIBLE = re.compile(r"[^\s\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")


def clean(text: str, *, multiline: bool = False, compact: bool = False) -> str:
    """`text` brought under the policy, changing as little as possible.

    Line breaks (and, in single-line text, tabs) become LF in multi-line text and a space in
    single-line text, or nothing at all with `compact` (slugs, URLs, languages: a space would
    be as wrong as the break); every other refused character is dropped. Single-line text is
    stripped. Text that had something visible never comes out blank: U+FFFD then stands for
    what was removed.
    """
    breaks = "\n" if multiline else ("" if compact else " ")
    cleaned = _LINE_BREAK.sub(breaks, text)
    if not multiline:
        cleaned = cleaned.replace("\t", breaks)
    pattern = _MULTI_LINE_REFUSED if multiline else _SINGLE_LINE_REFUSED
    cleaned = pattern.sub("", cleaned)
    if not multiline:
        cleaned = cleaned.strip()
    if is_blank(cleaned) and not is_blank(text):
        return "\ufffd"
    return cleaned
