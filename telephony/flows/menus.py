"""Which menu option a caller chose: keys pressed or words spoken. Pure functions."""

import re

from telephony.models import MenuOption

_SPOKEN_DIGITS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def _contains(words: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return n > 0 and any(words[i : i + n] == phrase for i in range(len(words) - n + 1))


def match_option(options, *, digits: str = "", speech: str = "") -> MenuOption | None:
    """The option for these keys, else the first whose phrase was spoken, else None.

    Speech also matches an option's digits when the caller says them ("two", "2").
    """
    digits = digits.strip()
    if digits:
        return next((option for option in options if option.digits == digits), None)
    words = _words(speech)
    if not words:
        return None
    for option in options:
        if _contains(words, _words(option.phrase)):
            return option
    spoken = "".join(_SPOKEN_DIGITS.get(word, word) for word in words)
    return next((option for option in options if option.digits and option.digits == spoken), None)
