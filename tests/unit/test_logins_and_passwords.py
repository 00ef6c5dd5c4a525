"""The one normal form of a login, and which new passwords are refused (issue 14)."""

from __future__ import annotations

import pytest

from services.board.password_policy import MIN_LENGTH, weakness
from services.store.accounts import normal_login


@pytest.mark.parametrize(("typed", "normal"), [
    ("Tiger9", "tiger9"),
    ("ｔｉｇｅｒ９", "tiger9"),  # full-width, as a Chinese IME types it
    ("ＴＩＧＥＲ９", "tiger9"),
    ("ﬁsh", "fish"),  # a ligature
    ("  admin ", "admin"),
    ("STRASSE", "strasse"),
    ("Straße", "strasse"),  # case folding, which lower() does not do
])
def test_spellings_of_one_login_have_one_normal_form(typed: str, normal: str) -> None:
    assert normal_login(typed) == normal
    assert normal_login(normal_login(typed)) == normal_login(typed)


def test_a_turkish_capital_i_is_not_an_i() -> None:
    """"tİger9" was let into "tiger9": PostgreSQL's lower() made it "tiger9", while the
    lock-out counted Python's "ti̇ger9" (with a combining dot). One form, and it is not
    tiger9's."""
    assert normal_login("tİger9") != "tiger9"
    assert normal_login("tİger9") == normal_login("TİGER9")


@pytest.mark.parametrize("password", ["12345678", "1234567890", "password123", "qwertyuiop",
                                      "woaini1314", "iloveyou2024", "admin123456"])
def test_common_passwords_are_refused(password: str) -> None:
    weak = weakness(password)
    assert weak is not None and "密码" in weak.zh and "password" in weak.en


def test_short_passwords_are_refused_however_random() -> None:
    weak = weakness("x7#Qp!2")
    assert weak is not None and str(MIN_LENGTH) in weak.zh


def test_a_password_built_from_the_persons_own_details_is_refused() -> None:
    assert weakness("13812345678a", hints=["13812345678"]) is not None
    assert weakness("wangfang2024", hints=["wangfang"]) is not None


@pytest.mark.parametrize("password", ["correct horse battery", "sunlight pages 2024",
                                      "窗外的梧桐树又一次绿了", "Tq9!vR2#mZ8x"])
def test_good_passwords_pass(password: str) -> None:
    assert weakness(password) is None
