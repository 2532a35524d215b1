"""Progress bars on stderr: batch records, one long explanation, training epochs."""

from rich.text import Text

from .tables import console


def record_progress(total):
    """Batch progress on stderr: records done, rate and ETA (total None: unknown, for stdin)."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskProgressColumn,
                               TextColumn, TimeRemainingColumn)

    class Rate(ProgressColumn):
        def render(self, task):
            return Text(f"{task.speed:.1f} records/s" if task.speed else "", style="dim")

    # No stdout redirection: rich would send results printed to stdout through the bar's stderr
    # console. Records meant for the same terminal are printed with the bar's console instead.
    bar = Progress(TextColumn("records"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(), Rate(),
                   TimeRemainingColumn(), console=console(stderr=True), transient=True, redirect_stdout=False,
                   redirect_stderr=False)
    return bar, bar.add_task("records", total=total)


class WorkProgress:
    """A transient bar on stderr for one long explanation (integrated gradients over thousands of
    tokens can take minutes), called with (done, total) as chunks of the work finish. It appears
    only after `delay` seconds, so quick answers never flash a bar."""

    def __init__(self, delay: float = 1.0, out=None):
        import time

        self.clock, self.start, self.delay = time.monotonic, time.monotonic(), delay
        self.out, self.bar, self.task = out, None, None

    def __call__(self, done, total):
        if self.bar is None:
            if self.clock() - self.start < self.delay:
                return
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("explaining"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                                console=self.out or console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("explaining", total=total)
        self.bar.update(self.task, completed=done, total=total)

    def close(self):
        if self.bar is not None:
            self.bar.stop()


def training_progress(epochs):
    """Training progress on stderr: epoch, step, loss and the last validation figure."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(f"epoch {{task.fields[epoch]}}/{epochs}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]:.4f} {task.fields[last]}"), TimeRemainingColumn(),
                   console=console(stderr=True))
    return bar, bar.add_task("train", total=None, epoch=1, loss=0.0, last="")
