"""Finding Japanese in what a reader sees."""

from __future__ import annotations

import re

# Hiragana, Katakana, CJK ideographs and punctuation, and full-width forms.
JAPANESE = re.compile(r"[\u3000-\u303f\u3040-\u309f\u30a0-\u30ff\u4e00-\u9fff\uff00-\uffef]")


def japanese_in(text: str, *, allowed: tuple[str, ...] = ()) -> list[str]:
    """The Japanese characters of `text` once each `allowed` passage is taken out."""
    for passage in allowed:
        text = text.replace(passage, "")
    return sorted(set(JAPANESE.findall(text)))
