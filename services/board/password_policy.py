"""Which new passwords are refused: too short, or easy to guess.

Guessability is zxcvbn's estimate (its frequency lists of common passwords, words, names
and keyboard patterns ship inside the package: nothing is fetched). A password scoring
below `MIN_SCORE` (0–4) is refused, and so is one that leans on the person's own login,
name or phone, which zxcvbn is given as hints. Every refusal is said in Chinese and in
English; the caller picks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from zxcvbn import zxcvbn

__all__ = ["MIN_LENGTH", "MIN_SCORE", "Weak", "weakness"]

MIN_LENGTH = 10
MIN_SCORE = 3  # "safely unguessable: moderate protection from an offline attack"
# zxcvbn's work grows with the length; what matters is in the first characters anyway
_CHECKED_CHARS = 64


@dataclass(frozen=True)
class Weak:
    """Why a password is refused, in both languages."""

    en: str
    zh: str


def weakness(password: str, hints: Iterable[str | None] = ()) -> Weak | None:
    """None for a password good enough to set; else why it is not."""
    if len(password) < MIN_LENGTH:
        return Weak(f"a password needs at least {MIN_LENGTH} characters",
                    f"密码至少需要 {MIN_LENGTH} 个字符")
    inputs = [h for h in hints if h]
    result = zxcvbn(password[:_CHECKED_CHARS], user_inputs=inputs)
    if int(result["score"]) >= MIN_SCORE:
        return None
    return Weak("this password is too common or too easy to guess (such as 12345678,"
                " a word with a year, or your own name or login); choose a longer phrase",
                "这个密码太常见或太容易猜到（例如 12345678、单词加年份、自己的姓名或登录名），"
                "请换一个更长、不常见的密码，例如几个词组成的短语")
