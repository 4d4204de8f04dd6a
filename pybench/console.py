"""How wide pybench's terminal output may be: the one place every command asks.

A TTY: the terminal's width (``$COLUMNS`` when set, as ``shutil.get_terminal_size`` reads it).
Anything else (a pipe, a file, a test's capture): ``PLAIN_WIDTH`` columns, never unlimited.
``--wide``: no limit (every column, lines as long as they need).
"""

import shutil
import sys
import textwrap

PLAIN_WIDTH = 100
NO_LIMIT = 10_000  # what a rich Console gets for "no limit": it needs a number


def width(stream=None, wide=False):
    """Columns the output to ``stream`` (default stdout) should fit in; None with ``wide``."""
    if wide:
        return None
    stream = sys.stdout if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream: not a terminal
        tty = False
    if tty:
        return max(shutil.get_terminal_size((PLAIN_WIDTH, 24)).columns, 40)
    return PLAIN_WIDTH


def make(stderr=False, wide=False, **kw):
    """A rich Console for stdout (or stderr) at ``width``'s width."""
    from rich.console import Console

    w = width(sys.stderr if stderr else sys.stdout, wide)
    return Console(stderr=stderr, width=NO_LIMIT if w is None else w, **kw)


def wrap(line, width, indent="  "):
    """``line`` as lines of at most ``width`` columns, continuations indented by ``indent``; words
    (paths, numbers with units) are never split, so one longer than ``width`` stands alone.
    ``width`` None: the line unchanged."""
    if width is None or len(line) <= width:
        return [line]
    return textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [line]


def wrap_items(head, items, width, sep=", ", indent=None):
    """``head + sep.join(items)`` wrapped between items only (an item such as "sgd lr=0.1" stays on
    one line); continuations aligned under the first item unless ``indent`` says otherwise."""
    nb = "\u00a0"  # textwrap does not break at a no-break space: protects the spaces inside items
    text = head + sep.join(str(i).replace(" ", nb) for i in items)
    indent = " " * len(head) if indent is None else indent
    if width is not None and len(indent) > width // 2:
        indent = "    "
    return [s.replace(nb, " ") for s in wrap(text, width, indent)]


class Lines:
    """Lines of text printable on a rich Console, each wrapped at the console's width by ``wrap``
    (continuations indented; a word longer than the width, such as a path, is not cut)."""

    def __init__(self, lines, indent="  "):
        self.lines, self.indent = list(lines), indent

    def __rich_console__(self, console, options):
        from rich.text import Text

        for line in self.lines:
            for part in wrap(line, options.max_width, self.indent):
                yield Text(part, no_wrap=True, overflow="ignore", end="\n")
