"""Progress of the bench's long steps, readable on a terminal and in a redirected log.

On a terminal (stderr is a TTY) :func:`progress_bar` is a tqdm bar with rate and ETA.  Redirected
to a file, carriage-return bars pile up into one unreadable line per refresh, and bars nested
inside bars (a fine-tune inside the bench) interleave; there it is a :class:`PlainProgress` that
prints one plain line at most every ``every_s`` seconds (and one when it finishes, if it took long
enough to have printed anything), with the same count, rate and ETA.  The environment variable
``GENOLM_PROGRESS_EVERY_S`` sets that interval (default 10 seconds).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time


def on_terminal(stream=None) -> bool:
    """Whether ``stream`` (default: stderr) is an interactive terminal."""
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _duration(s: float) -> str:
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{s // 60:.0f}m{s % 60:02.0f}s"
    return f"{s // 3600:.0f}h{(s % 3600) // 60:02.0f}m"


def quiet() -> bool:
    """Whether progress is switched off for the whole process: ``genolm -q`` sets tqdm's own
    ``TQDM_DISABLE``, which the plain lines honour too."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def plain_interval() -> float:
    """Seconds between two plain progress lines: ``GENOLM_PROGRESS_EVERY_S``, default 10."""
    raw = os.environ.get("GENOLM_PROGRESS_EVERY_S", "")
    try:
        return max(0.0, float(raw)) if raw.strip() else 10.0
    except ValueError:
        return 10.0


class PlainProgress:
    """A tqdm-like counter that writes plain periodic lines (``update``, ``set_description``, ``close``)."""

    def __init__(
        self,
        total: float | None,
        desc: str,
        unit: str = "it",
        every_s: float | None = None,
        stream=None,
        *,
        initial: float = 0,
        unit_scale: bool = False,
    ):
        if every_s is None:
            every_s = plain_interval()
        self.total, self.desc, self.unit, self.every_s = total, desc, unit, every_s
        self.unit_scale = unit_scale
        self.stream = stream if stream is not None else sys.stderr
        self.n = self.initial = initial  # a resumed run: the rate counts this run's work only
        self.t0 = self._last = time.monotonic()
        self._printed = False
        self.postfix = ""

    def _count(self, x: float) -> str:
        if self.unit_scale:
            for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
                if abs(x) >= div:
                    return f"{x / div:.2f}{suffix}"
        return f"{x:g}" if isinstance(x, float) else str(x)

    def line(self) -> str:
        el = time.monotonic() - self.t0
        rate = (self.n - self.initial) / el if el > 0 else 0.0
        parts = [
            f"{self.desc}: {self._count(self.n)}"
            + (f"/{self._count(self.total)}" if self.total else "")
            + f" {self.unit}"
        ]
        parts.append(
            f"{self._count(rate) if self.unit_scale else f'{rate:.2f}'} {self.unit}/s"
            if rate >= 0.1
            else f"{1 / rate:.1f} s/{self.unit}"
            if rate
            else ""
        )
        parts.append(f"elapsed {_duration(el)}")
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"ETA {_duration((self.total - self.n) / rate)}")
        parts.append(self.postfix)
        return ", ".join(p for p in parts if p)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._printed = True
            print(self.line(), file=self.stream, flush=True)

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def set_postfix(self, **kw) -> None:
        """``key=value`` pairs shown at the end of the next line (as tqdm's ``set_postfix``)."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in kw.items())

    def close(self) -> None:
        if self._printed:
            print(self.line() + " (done)", file=self.stream, flush=True)
            self._printed = False


def progress_bar(
    total: float | None,
    desc: str,
    *,
    unit: str = "it",
    enabled: bool = True,
    leave: bool = True,
    initial: float = 0,
    unit_scale: bool = False,
    delay: float = 0.0,
):
    """A tqdm bar on a terminal, a :class:`PlainProgress` in a redirected log, ``None`` when disabled.

    ``initial``: work already done (a resumed run); ``unit_scale``: counts as 1.2k / 3.4M;
    ``delay``: the terminal bar appears only after this many seconds (a plain log line never comes
    before ``GENOLM_PROGRESS_EVERY_S`` anyway).
    """
    if not enabled or quiet():
        return None
    if on_terminal():
        from tqdm.auto import tqdm

        return tqdm(
            total=total,
            desc=desc,
            unit=unit,
            dynamic_ncols=True,
            leave=leave,
            initial=initial,
            unit_scale=unit_scale,
            delay=delay,
        )
    return PlainProgress(total, desc, unit, initial=initial, unit_scale=unit_scale)


def track(
    iterable,
    desc: str,
    *,
    total: int | None = None,
    unit: str = "it",
    enabled: bool = True,
    leave: bool = True,
):
    """Iterate ``iterable`` with a :func:`progress_bar` (``total`` defaults to ``len(iterable)``)."""
    if not enabled or quiet():
        yield from iterable
        return
    if total is None:
        try:
            total = len(iterable)
        except TypeError:
            total = None
    bar = progress_bar(total, desc, unit=unit, leave=leave)
    try:
        for item in iterable:
            yield item
            bar.update(1)
    finally:
        bar.close()


@contextlib.contextmanager
def heartbeat(desc: str, *, enabled: bool = True, every_s: float = 10.0, stream=None):
    """While the block runs, print ``desc: still running, elapsed ...`` every ``every_s`` seconds.

    For one long call that reports no progress of its own where it is run (the ``tokenizers`` BPE
    trainer draws bars only on a terminal): a redirected log then still shows the step is alive.
    Lines come from a daemon thread; the block's own output is not touched.
    """
    if not enabled or quiet():
        yield
        return
    stream = stream if stream is not None else sys.stderr
    done = threading.Event()
    t0 = time.monotonic()

    def beat():
        while not done.wait(every_s):
            print(
                f"{desc}: still running, elapsed {_duration(time.monotonic() - t0)}", file=stream, flush=True
            )

    thread = threading.Thread(target=beat, name="genolm-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if time.monotonic() - t0 >= every_s:
            print(f"{desc}: done in {_duration(time.monotonic() - t0)}", file=stream, flush=True)
