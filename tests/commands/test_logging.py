"""Each log line is printed once: libraries that print through a handler of their own (datasets,
huggingface_hub) are not printed a second time through the CLI's rich handler."""

from __future__ import annotations

import logging
import sys

import pytest

from xstilts.cli import configure_logging


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    library = logging.getLogger("huggingface_hub")
    library_saved = library.handlers[:], library.level
    yield
    root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    library.handlers[:], _ = library_saved[0], library.setLevel(library_saved[1])


@pytest.mark.parametrize("library_first", [True, False])
def test_a_library_line_is_printed_once(library_first: bool, capfd: pytest.CaptureFixture, restore_logging: None) -> None:
    library = logging.getLogger("huggingface_hub")
    own = logging.StreamHandler(sys.stderr)  # what huggingface_hub and datasets add on import

    if library_first:
        library.addHandler(own)
    configure_logging(quiet=False, verbose=False)
    if not library_first:
        library.addHandler(own)
    library.setLevel(logging.WARNING)  # as the library resets it on import
    logging.getLogger("huggingface_hub.file_download").warning("the hub says hello")
    logging.getLogger("xstilts.data").warning("xstilts says hello")
    captured = capfd.readouterr()
    printed = captured.out + captured.err  # rich prints to stdout, the library's handler to stderr
    assert printed.count("the hub says hello") == 1
    assert printed.count("xstilts says hello") == 1
