"""统一社会信用代码 (unified social credit code, GB 32100-2015): spelling and check digit.

The check digit is python-stdnum's (``stdnum.cn.uscc.calc_check_digit``: weights 3^i mod 31
over the 31-character alphabet without I O Z S V). Its ``validate`` is not used as a whole:
it requires the first eight characters to be digits, but GB 32100 lets the first one, the
registering authority (登记管理部门), be a letter (``A`` 中央军委改革和编制办公室, ``N`` 农业,
``Y`` 其他), and such codes are real enterprises' and organisations' codes.

What people type is normalised first: full-width characters (``９１３７…``), spaces and the
usual separators (``9137 0285-…``), lowercase letters.
"""

from __future__ import annotations

import re
import unicodedata

from stdnum.cn import uscc

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
LENGTH = 18
# Spaces (the full-width one after NFKC is a plain space), hyphens, dots, slashes and
# underscores people put between the parts of the code.
_SEPARATORS = re.compile(r"[\s\-_.·•/\\—–－]+")
# 1: registering authority, 2: kind of entity, 3-8: region (digits), 9-17: organisation
# code, 18: check digit.
_SHAPE = re.compile(rf"[{ALPHABET}]{{2}}\d{{6}}[{ALPHABET}]{{10}}")


class CreditCodeError(ValueError):
    """Why a text is not a credit code (Chinese + English, never quoting the text)."""


def normalise(text: str) -> str:
    """Full-width → half-width, separators and spaces out, letters in upper case."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper()


def validate(text: str) -> str:
    """The normalised code, or :class:`CreditCodeError` saying what is wrong."""
    code = normalise(text)
    if len(code) != LENGTH:
        raise CreditCodeError(
            f"统一社会信用代码应为18位，实为{len(code)}位 (credit code must have 18 characters)"
        )
    if not _SHAPE.fullmatch(code):
        raise CreditCodeError(
            "统一社会信用代码含不允许的字符 (credit code: only digits and letters other than "
            "I O Z S V; characters 3-8 are digits)"
        )
    if uscc.calc_check_digit(code[:17]) != code[17]:
        raise CreditCodeError("统一社会信用代码校验位不符 (credit code check digit does not match)")
    return code


def is_valid(text: str) -> bool:
    try:
        validate(text)
    except CreditCodeError:
        return False
    return True
