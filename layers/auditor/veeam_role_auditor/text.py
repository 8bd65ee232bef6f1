"""Untrusted text made safe to show: control and format characters become visible escapes.

Policy documents, condition keys, tag values and role descriptions are written by whoever can edit a
role. Shown raw, an ESC sequence repaints a terminal, a newline forges a line of output, and a
right-to-left override (U+202E) makes a principal read backwards. Every renderer passes such text
through `escape_control` so it stays text. Also `plural`, the counts every renderer writes in words.
Pure: no I/O, standard library only.
"""

from __future__ import annotations

import unicodedata

# Cc: C0 controls, DEL, C1 controls. Cf: format characters (bidi overrides and isolates, zero-width
# characters, soft hyphen, tag characters). Cs: lone surrogates, which JSON allows ("\ud800") and UTF-8
# cannot encode. Zl/Zp: U+2028/U+2029, which many viewers treat as line breaks.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _visible(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape_control(text: str) -> str:
    """Return `text` with every control, format, surrogate and line/paragraph-separator character
    replaced by a visible escape: ESC is shown as `\\x1b`, a newline as `\\x0a`, U+202E as `\\u202e`.

    Printable text, including letters outside ASCII (é, ü, 日本), is returned unchanged. Backslashes
    are not doubled: the result is for people to read, not to be parsed back.
    """
    # str.isprintable() is False for every escaped category (and also for spaces other than U+0020,
    # which are kept), so printable text, the usual case, costs one C-level scan.
    if text.isprintable():
        return text
    return "".join(_visible(char) if unicodedata.category(char) in _ESCAPED_CATEGORIES else char for char in text)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``count`` things in words: "1 finding", "3 findings"; ``plural_form`` when it is not singular + "s"."""
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"
