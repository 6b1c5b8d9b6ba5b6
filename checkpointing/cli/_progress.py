"""A progress bar on stderr for long commands, only when stderr is a terminal (tqdm)."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__: list[str] = []


@contextlib.contextmanager
def progress_bar(
    description: str, *, unit: str, enabled: bool = True
) -> Iterator[Callable[[int, int], None] | None]:
    """Yield ``update(done, total)`` drawing a bar on stderr, or ``None`` when stderr is not a
    terminal (piped, redirected, in CI) or ``enabled`` is false (``--no-progress``): then
    nothing is drawn at all. The bar is removed when the block ends, so the command's own
    output is all that stays."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc=description, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
