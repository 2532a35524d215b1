"""Consoles and plain tables for the commands."""

from rich.console import Group
from rich.table import Table
from rich.text import Text


def console(stderr: bool = False):
    """A console on stdout (results) or stderr (progress, tables meant for people beside data)."""
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self):
            # rich exits 1 here; raise instead, so `| head` exits 141 as every other write does
            self.quiet = True
            raise BrokenPipeError

    return PipeConsole(stderr=stderr, highlight=False)


def simple_table(columns, rows, title=None, header=True):
    """columns: [(name, justify)]; rows: lists of cells (str or Text). A title goes on its own
    line above (as a table title it would be wrapped to the table's width)."""
    table = Table(box=None, show_header=header, pad_edge=False)
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for row in rows:
        table.add_row(*row)
    return Group(Text(title), table) if title else table
