"""Whether progress bars show: ``rankkit run --no-progress`` turns off every one, model loading included.

Components draw their own bars (tqdm, sentence-transformers' ``show_progress_bar``) and libraries draw theirs
while loading models (transformers' "Loading weights", huggingface_hub's downloads). Inside
:func:`progress_bars` with ``enabled=False``, :func:`progress_enabled` is ``False`` (components pass it on to
their bars) and transformers' and huggingface_hub's own switches are off; both are restored afterwards.
Importing this module imports neither library: they are imported only to switch them off, and only when installed.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_enabled = True


def progress_enabled() -> bool:
    """Whether components should show progress bars (``False`` inside ``progress_bars(False)``)."""
    return _enabled


@contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """Show (``True``: nothing changes) or hide every progress bar within the block.

    Hiding sets :func:`progress_enabled` to ``False`` and calls transformers'
    ``transformers.utils.logging.disable_progress_bar()`` and huggingface_hub's
    ``huggingface_hub.utils.disable_progress_bars()`` when those libraries are installed; on leaving the block,
    what was switched off is switched on again.

    Args:
        enabled: ``False`` to hide the bars.
    """
    global _enabled
    if enabled:
        yield
        return
    previous = _enabled
    _enabled = False
    restore = _silence_libraries()
    try:
        yield
    finally:
        _enabled = previous
        for undo in restore:
            undo()


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _silence_libraries() -> list[Callable[[], None]]:
    """Switch off transformers' and huggingface_hub's bars; the calls that switch on again what was on, in order."""
    transformers_logging: Any = None
    if _installed("transformers"):  # imported first: it reads huggingface_hub's switch when first imported
        from transformers.utils import logging as transformers_logging
    restore: list[Callable[[], None]] = []
    hub_was_off = True
    if _installed("huggingface_hub"):
        from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

        hub_was_off = are_progress_bars_disabled()
        if not hub_was_off:
            with warnings.catch_warnings():  # HF_HUB_DISABLE_PROGRESS_BARS=0 wins, silently
                warnings.simplefilter("ignore")
                disable_progress_bars()
            restore.append(enable_progress_bars)
    if transformers_logging is not None and transformers_logging.is_progress_bar_enabled():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            transformers_logging.disable_progress_bar()

        def undo() -> None:
            with warnings.catch_warnings():  # an HF_HUB_DISABLE_PROGRESS_BARS setting wins, silently
                warnings.simplefilter("ignore")
                transformers_logging.enable_progress_bar()  # switches huggingface_hub's bars on too:
                if hub_was_off:                              # off again when they were off before
                    from huggingface_hub.utils import disable_progress_bars as hub_off

                    hub_off()

        restore.append(undo)
    return restore
