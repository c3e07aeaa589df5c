"""The plot style, set per figure: every figure is made and saved inside :func:`figure_style` (or a
function decorated with :func:`styled`), so importing or using gvae never changes matplotlib's
global ``rcParams``."""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import matplotlib

matplotlib.use("Agg")
import matplotlib.style  # noqa: E402
import mplhep  # noqa: E402

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def figure_style(rc: dict[str, Any] | None = None) -> Iterator[None]:
    """The mplhep CMS style plus ``rc`` (rcParams overrides, e.g. ``{"font.size": 14}``) for the
    figures made inside the block; the previous rcParams come back on exit."""
    with matplotlib.style.context([mplhep.style.CMS, dict(rc or {})]):
        yield


def styled(rc: dict[str, Any] | None = None) -> Callable[[F], F]:
    """Decorator: run the function (which makes and saves a figure) inside :func:`figure_style`."""
    def wrap(func: F) -> F:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with figure_style(rc):
                return func(*args, **kwargs)
        return inner  # type: ignore[return-value]
    return wrap
