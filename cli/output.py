"""One way out for every command's results: JSON, the terminal, or a page (html, svg).

Results go to stdout, everything else (progress, warnings, errors) to stderr. For people the
terminal view is coloured; off a terminal or with NO_COLOR it is plain (render.console decides).
A page is one self-contained file of what the terminal would show, written when the command ends.
batch's record formats (jsonl, csv, tsv) are the records' own writers (saliency.records.writers).
"""

import sys

from saliency.records.whole_writes import write_whole

JSON = ("json", "jsonl")  # one object per line in every command: each name is taken for the other
PAGES = ("html", "svg")


class Results:
    """Results in `output_format`: json/jsonl lines written whole as they come; views printed on
    stdout's console (`console`: another one, such as a progress bar's) or recorded for a page."""

    def __init__(self, output_format: str, title: str = "saliency", console=None):
        self.format, self.title, self.shown = output_format, title, 0
        self._console = console

    @property
    def console(self):
        """Where views go: stdout's console for text, the page's recorder for html/svg, None for JSON."""
        if self._console is None and self.format not in JSON:
            from saliency.render import console, recording_console

            self._console = recording_console(self.format) if self.format in PAGES else console()
        return self._console

    def show(self, view=None, json=None):
        """One result: `json()` gives its JSON text, `view()` its renderable (called only for their formats)."""
        self.shown += 1
        if self.format in JSON:
            write_whole(sys.stdout, json() + "\n")  # the whole line, even on Ctrl-C
        else:
            self.console.print(view())

    def close(self, empty_page: bool = True):
        """Write the page (html, svg), also when nothing was shown unless `empty_page` is False."""
        if self.format in PAGES and (self.shown or empty_page):
            from saliency.render import export

            sys.stdout.write(export([], self.format, self.title, recorder=self.console))
