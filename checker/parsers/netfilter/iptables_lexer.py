"""Splitting one iptables-restore line into words, the way iptables-restore does.

iptables-restore (iptables/xshared.c, `add_param_to_argv`) splits on blanks; a double quote
opens a quoted stretch in which a backslash takes the next character literally, and the closing
quote ends the word (`"a"b` is two words, `"a" b` too). Outside quotes a backslash is an
ordinary character. An unterminated quote runs to the end of the line (iptables 1.8.9 accepts
it). No `shlex`: it is an order of magnitude slower and quotes differently.
"""

from __future__ import annotations


class LineError(Exception):
    """What is wrong with the line being parsed; `parse()` adds the file and line number.

    `col` is 1-based, 0 when the problem is the whole line; `near` is the word at fault, from
    which the caller finds the column when the raiser did not know it."""

    def __init__(self, code: str, message: str, col: int = 0, near: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.col = col
        self.near = near


def split_words(line: str) -> tuple[list[str], bool]:
    """The words of `line` and whether a quote was left open."""
    if '"' not in line:
        if line.isprintable():
            # Only ASCII spaces separate here, so str.split() splits exactly as iptables does.
            return line.split(), False
        return [word for word in line.replace("\t", " ").split(" ") if word], False
    parts = line.split('"')
    if "\\" in line or len(parts) % 2 == 0:
        return _split_slowly(line)
    words: list[str] = []
    prefix = ""
    last = len(parts) - 1
    for index, part in enumerate(parts):
        if index % 2:
            # Quoted: glued to whatever touched the opening quote, ended by the closing one.
            words.append(prefix + part)
            continue
        if part.isprintable():
            pieces = part.split()
        else:
            pieces = [piece for piece in part.replace("\t", " ").split(" ") if piece]
        prefix = pieces.pop() if index < last and part and part[-1] not in " \t" else ""
        words += pieces
    return words, False


def _split_slowly(line: str) -> tuple[list[str], bool]:
    words: list[str] = []
    current: list[str] = []
    in_quotes = False
    escaped = False
    started = False
    for char in line:
        if in_quotes:
            if escaped:
                current.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_quotes = False
                words.append("".join(current))
                current = []
                started = False
            else:
                current.append(char)
        elif char == '"':
            in_quotes = True
        elif char in " \t":
            if started:
                words.append("".join(current))
                current = []
                started = False
        else:
            current.append(char)
            started = True
    if in_quotes or started:
        words.append("".join(current))
    return words, in_quotes


def column_of(line: str, word: str, start: int = 0) -> int:
    """1-based column of `word` in `line` (0 if it cannot be found, e.g. after unquoting)."""
    found = line.find(word, start) if word else -1
    return found + 1 if found >= 0 else 0
