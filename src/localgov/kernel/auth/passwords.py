"""The password policy of every account that has one (LAO staff, the operator's staff, an LAO's
first administrator at signup): a length bound and a strength estimate by zxcvbn.

zxcvbn (Dropbox's estimator, the maintained Python port) matches a password against lists of common
passwords, names and words, keyboard walks, repeats, sequences, dates and leet substitutions, and
estimates the guesses an attacker needs; ``score`` 0–4 buckets them (3: about 10^8 guesses, safe
against an online attack and a throttled offline one). The account's own words (the member's name,
their e-mail address, the LAO's names and slug) are fed to it as a dictionary of their own, and a
password at least half made of them is refused whatever its score: ``maehia2567`` is weak for
อบต. แม่เหียะ although it is in no public list.

The estimator costs a few milliseconds for an ordinary password and is bounded by
``MAX_ESTIMATED_LENGTH`` (it is quadratic in length); only the first 100 characters are estimated, a
longer password is long enough by itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from zxcvbn import zxcvbn

from localgov.kernel.errors import DomainError

#: Longest password accepted (argon2 hashes anything, but a megabyte "password" is an attack).
PASSWORD_MAX_LENGTH = 1024
#: The estimator is quadratic in the length: only this many characters are estimated.
MAX_ESTIMATED_LENGTH = 100
_WORDS = re.compile(r"[^\W_]+")
#: A password at least half made of the account's own words is refused whatever its score
#: (``somsakoperator1`` scores 3: two dictionary words, but both are on the account).
OWN_WORDS_LIMIT = 0.5

#: zxcvbn's English feedback (its ``gettext`` catalogue has no Thai) in Thai.
FEEDBACK_TH: dict[str, str] = {
    "Use a few words, avoid common phrases.": "ใช้คำหลายคำต่อกัน หลีกเลี่ยงวลีที่ใช้กันทั่วไป",
    "No need for symbols, digits, or uppercase letters.": "ไม่จำเป็นต้องมีสัญลักษณ์ ตัวเลข หรือตัวพิมพ์ใหญ่",
    "Add another word or two. Uncommon words are better.": "เพิ่มอีกหนึ่งหรือสองคำ คำที่ไม่ค่อยมีคนใช้ยิ่งดี",
    "Straight rows of keys are easy to guess.": "แป้นที่เรียงกันเป็นแถวเดาได้ง่าย",
    "Short keyboard patterns are easy to guess.": "รูปแบบแป้นพิมพ์สั้น ๆ เดาได้ง่าย",
    "Use a longer keyboard pattern with more turns.": "ใช้รูปแบบแป้นพิมพ์ที่ยาวขึ้นและเลี้ยวหลายครั้ง",
    'Repeats like "aaa" are easy to guess.': 'การซ้ำอย่าง "aaa" เดาได้ง่าย',
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".': (
        'การซ้ำอย่าง "abcabcabc" เดายากกว่า "abc" เพียงเล็กน้อย'
    ),
    "Avoid repeated words and characters.": "หลีกเลี่ยงคำและตัวอักษรที่ซ้ำกัน",
    'Sequences like "abc" or "6543" are easy to guess.': 'ลำดับอย่าง "abc" หรือ "6543" เดาได้ง่าย',
    "Avoid sequences.": "หลีกเลี่ยงตัวอักษรหรือตัวเลขที่เรียงกัน",
    "Recent years are easy to guess.": "ปีในช่วงหลังเดาได้ง่าย",
    "Avoid recent years.": "หลีกเลี่ยงปีในช่วงหลัง",
    "Avoid years that are associated with you.": "หลีกเลี่ยงปีที่เกี่ยวข้องกับท่าน",
    "Dates are often easy to guess.": "วันที่มักเดาได้ง่าย",
    "Avoid dates and years that are associated with you.": "หลีกเลี่ยงวันที่และปีที่เกี่ยวข้องกับท่าน",
    "This is a top-10 common password.": "เป็นหนึ่งในสิบรหัสผ่านที่ใช้กันมากที่สุด",
    "This is a top-100 common password.": "เป็นหนึ่งในร้อยรหัสผ่านที่ใช้กันมากที่สุด",
    "This is a very common password.": "เป็นรหัสผ่านที่ใช้กันมาก",
    "This is similar to a commonly used password.": "คล้ายรหัสผ่านที่ใช้กันมาก",
    "A word by itself is easy to guess.": "คำเดียวโดด ๆ เดาได้ง่าย",
    "Names and surnames by themselves are easy to guess.": "ชื่อหรือนามสกุลโดด ๆ เดาได้ง่าย",
    "Common names and surnames are easy to guess.": "ชื่อและนามสกุลที่พบบ่อยเดาได้ง่าย",
    "Capitalization doesn't help very much.": "การใช้ตัวพิมพ์ใหญ่ไม่ได้ช่วยมากนัก",
    "All-uppercase is almost as easy to guess as all-lowercase.": "ตัวพิมพ์ใหญ่ทั้งหมดเดาได้ง่ายพอ ๆ กับตัวพิมพ์เล็กทั้งหมด",
    "Reversed words aren't much harder to guess.": "คำที่สะกดกลับหลังเดายากขึ้นไม่มากนัก",
    "Predictable substitutions like '@' instead of 'a' don't help very much.": (
        "การแทนตัวอักษรที่คาดเดาได้ เช่น '@' แทน 'a' ไม่ได้ช่วยมากนัก"
    ),
}
_ACCOUNT_WORDS_TH = "รหัสผ่านมีชื่อ อีเมล หรือชื่อ อปท. ของบัญชีนี้"
_ACCOUNT_WORDS_EN = "The password contains the account's name, e-mail address or the LAO's name."
_GENERIC_TH = "ใช้วลีที่ยาวขึ้นจากคำที่ไม่เกี่ยวข้องกันหลายคำ"


class PasswordTooShort(DomainError):
    code = "password_too_short"
    status = 400
    title = "รหัสผ่านสั้นเกินไป / Password too short"


class PasswordTooWeak(DomainError):
    code = "password_too_weak"
    status = 400
    title = "รหัสผ่านเดาได้ง่ายเกินไป / The password is too easy to guess"


def account_words(*values: str | None) -> list[str]:
    """The words of an account that must not carry a password: each value whole, lower-cased, and
    its words (an e-mail address gives its local part and domain labels too)."""
    words: set[str] = set()
    for value in values:
        if not value:
            continue
        lowered = value.strip().lower()
        words.add(lowered)
        words.update(w for w in _WORDS.findall(lowered) if len(w) >= 3)
        if "@" in lowered:
            words.add(lowered.split("@", 1)[0])
    return sorted(words)


def check_password(password: str, *, min_length: int, min_score: int, user_inputs: Iterable[str] = ()) -> None:
    """Raise 400 ``password_too_short`` / ``password_too_long`` / ``password_too_weak`` (with the
    estimator's score, the minimum, and its feedback in Thai and English in ``data``)."""
    if len(password) < min_length:
        raise PasswordTooShort(f"A password needs at least {min_length} characters.", data={"min_length": min_length})
    if len(password) > PASSWORD_MAX_LENGTH:
        raise PasswordTooShort(f"A password has at most {PASSWORD_MAX_LENGTH} characters.", code="password_too_long")
    if min_score <= 0:
        return
    inputs = [w for w in user_inputs if w]
    estimated = password[:MAX_ESTIMATED_LENGTH]
    result: dict[str, Any] = zxcvbn(estimated, user_inputs=inputs, max_length=MAX_ESTIMATED_LENGTH)
    score = int(result["score"])
    own = _own_words_share(result, inputs)
    if score >= min_score and own < OWN_WORDS_LIMIT:
        return
    feedback = result.get("feedback") or {}
    messages_en = [m for m in [feedback.get("warning") or "", *(feedback.get("suggestions") or [])] if m]
    if own > 0:
        messages_en.insert(0, _ACCOUNT_WORDS_EN)
    if not messages_en:
        messages_en = ["Use a longer passphrase of several unrelated words."]
    messages_th = [
        _ACCOUNT_WORDS_TH if m == _ACCOUNT_WORDS_EN else FEEDBACK_TH.get(m, _GENERIC_TH) for m in messages_en
    ]
    raise PasswordTooWeak(
        "The password is too easy to guess: " + " ".join(messages_en),
        data={
            "score": score,
            "min_score": min_score,
            "feedback_th": list(dict.fromkeys(messages_th)),
            "feedback_en": messages_en,
        },
    )


def _own_words_share(result: dict[str, Any], inputs: list[str]) -> float:
    """The share of the estimated characters matched by the account's own words."""
    sequence = result.get("sequence") or ()
    if not inputs or not sequence:
        return 0.0
    own = sum(len(m.get("token") or "") for m in sequence if m.get("dictionary_name") == "user_inputs")
    return own / max(1, sum(len(m.get("token") or "") for m in sequence))
