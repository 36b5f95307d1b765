"""Word splitting as iptables-restore does it (observed with iptables-restore 1.8.9)."""

from __future__ import annotations

import pytest

from checker.parsers.netfilter.iptables_lexer import split_words


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("-A INPUT  -j\tACCEPT", ["-A", "INPUT", "-j", "ACCEPT"]),
        ('--comment "has space" -j X', ["--comment", "has space", "-j", "X"]),
        ('--comment ""', ["--comment", ""]),
        # A closing quote ends the word: iptables-restore then reports `b` as a bad argument.
        ('--comment "a"b', ["--comment", "a", "b"]),
        # An opening quote glues to what precedes it.
        ('--comment x"a b"y', ["--comment", "xa b", "y"]),
        # Inside quotes a backslash takes the next character; outside it is literal.
        (r'--comment "a\"b\\c\d"', ["--comment", 'a"b\\cd']),
        (r"--log-prefix a\b", ["--log-prefix", "a\\b"]),
        ('"a""b"', ["a", "b"]),
        ("-A INPUT\u00a0-j X", ["-A", "INPUT\u00a0-j", "X"]),
    ],
)
def test_split_words_matches_iptables_restore(line: str, words: list[str]) -> None:
    assert split_words(line) == (words, False)


def test_unterminated_quote_runs_to_end_of_line() -> None:
    assert split_words('-m comment --comment "open -j ACCEPT') == (
        ["-m", "comment", "--comment", "open -j ACCEPT"],
        True,
    )
