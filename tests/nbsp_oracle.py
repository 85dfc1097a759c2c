"""The no-break-space rewrite checked against CPython's own tokenizer.

Run by tests/test_nbsp_tokenize.py under each interpreter it checks:

    PYTHON nbsp_oracle.py FILTER FILE...

Each FILE is valid Python of that interpreter, with no tab, form feed or
no-break space in it. Every space in it is made a no-break space, and the
copy goes through FILTER (build/tests/test_nbsp --filter). Where the
tokenizer reads the space as code, the rewrite must give two spaces; in a
string's text, an f-string's text or format spec, or a comment, it must
keep the no-break space; a line's leading run of k spaces read as code is k
form feeds and k spaces. Before 3.12 the tokenizer reads an f-string whole,
where a space may then be either. Non-ASCII characters are made X
first (ascii_only()). Prints one line per file that differs,
at its first difference, and the count checked; exits 1 on a difference.
"""
import bisect
import io
import re
import subprocess
import sys
import tokenize

NB = "\u00a0"
FSTRING_START = getattr(tokenize, "FSTRING_START", None)
FSTRING_MIDDLE = getattr(tokenize, "FSTRING_MIDDLE", None)
FSTRING_END = getattr(tokenize, "FSTRING_END", None)


def spans(src):
    """(literal, inside, either): character ranges [a, b) of literal text
    (strings, f-string text and specs, comments); of whole strings and
    f-strings (where a line does not start at the top level); and of
    f-strings the tokenizer reads whole (before 3.12), where a space may be
    either."""
    starts = [0] + [m.end() for m in re.finditer("\n", src)]

    def at(pos):
        return starts[pos[0] - 1] + pos[1]

    literal, inside, either, open_f = [], [], [], []
    for t in tokenize.generate_tokens(io.StringIO(src).readline):
        if t.type == tokenize.STRING:
            prefix = t.string[:len(t.string) - len(t.string.lstrip("bBrRuUfF"))]
            whole = FSTRING_START is None and "f" in prefix.lower()
            (either if whole else literal).append((at(t.start), at(t.end)))
            inside.append((at(t.start), at(t.end)))
        elif t.type == tokenize.COMMENT or t.type == FSTRING_MIDDLE:
            literal.append((at(t.start), at(t.end)))
        elif t.type == FSTRING_START:
            open_f.append(at(t.start))
        elif t.type == FSTRING_END:
            inside.append((open_f.pop(), at(t.end)))
    return literal, inside, either


def union(ranges):
    """Sorted ranges merged into disjoint ones (nested f-strings overlap)."""
    out = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def within(ranges, firsts, i):
    k = bisect.bisect_right(firsts, i) - 1
    return k >= 0 and i < ranges[k][1]


def expected(src, literal, inside, either):
    """What the rewrite must give: a list of strings, and None for a space
    that may be either a no-break space or two spaces."""
    literal, inside, either = union(literal), union(inside), union(either)
    lit_first, in_first, either_first = ([a for a, _ in r] for r in (literal, inside, either))
    out, last = [], 0
    for m in re.finditer(" +", src):
        a, b = m.span()
        out.append(src[last:a])
        if (a == 0 or src[a - 1] == "\n") and not within(inside, in_first, a - 1 if a else 0):
            out.append("\f" * (b - a) + " " * (b - a))
        else:
            out.extend(None if within(either, either_first, i) else NB if within(literal, lit_first, i)
                       else "  " for i in range(a, b))
        last = b
    out.append(src[last:])
    return out


def differs(got, want):
    """Where got first differs from want (expected()), or None."""
    j = 0
    for piece in want:
        if piece is None and got.startswith(NB, j):
            j += 1
        elif piece is None and got.startswith("  ", j):
            j += 2
        elif piece is not None and got.startswith(piece, j):
            j += len(piece)
        else:
            return j + next((k for k, (x, y) in enumerate(zip(got[j:], piece or "")) if x != y), 0)
    return None if j == len(got) else j


def ascii_only(src):
    """Each non-ASCII character made an X, which leaves every token what it
    was (they stand in strings, comments and names): 3.12's tokenize
    misplaces what follows non-ASCII text in a string that spans lines."""
    return re.sub("[^\x00-\x7f]", "X", src)


def main():
    filt, files = sys.argv[1], sys.argv[2:]
    todo = []
    for f in files:
        try:
            src = open(f, encoding="utf-8").read()
            got = None if any(c in src for c in "\t\f\r" + NB) else spans(ascii_only(src))
        except (UnicodeDecodeError, SyntaxError, tokenize.TokenError):
            got = None
        if got:
            todo.append((f, ascii_only(src), got))
    data = b"".join(src.replace(" ", NB).encode() + b"\0" for _, src, _ in todo)
    out = subprocess.run([filt, "--filter"], input=data, stdout=subprocess.PIPE, check=True).stdout
    rewritten = out.split(b"\0")[:-1]
    assert len(rewritten) == len(todo), (len(rewritten), len(todo))
    bad = 0
    for (f, src, got_spans), got in zip(todo, rewritten):
        got = got.decode()
        i = differs(got, expected(src, *got_spans))
        if i is not None:
            n = got.count("\n", 0, i)
            print(f"{f}:{n + 1}: the line {src.split(chr(10))[n]!r} rewritten {got.split(chr(10))[n]!r}")
            bad += 1
    print(f"checked {len(todo)} files, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
