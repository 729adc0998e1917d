"""TensorFlow's native start-up log lines: kept off stderr, recorded for environment.json.

Importing TensorFlow writes lines such as

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796231858.343443  2197 port.cc:153] oneDNN custom operations are on. ...

straight to file descriptor 2 from C++, whatever `TF_CPP_MIN_LOG_LEVEL` says. `quiet_import()`
arranges that the first `import tensorflow` (usually from inside `import keras`) runs with
descriptor 2 pointed at a temporary file; afterwards the known start-up chatter (absl's
notice, INFO and WARNING lines and their continuation lines) is kept in `STARTUP_LINES` and
anything else (an error line, a Python warning) is written to stderr as it came.

It stays out of the way when the user wants the lines: with `CONVOLAB_VERBOSE=1` or
`--verbose`, or when they set `TF_CPP_MIN_LOG_LEVEL=0` themselves.

The same first import also leaves out two optional extras that Keras imports only when they
are installed and that the CLI never uses: scikit-learn (for `keras.wrappers`) and
matplotlib's pyplot (for `keras.visualization`). They cost about 1.8 s of the ~8 s that
`import keras` takes on a 2-core CPU; both stay importable afterwards (convolab's own
plots use matplotlib without pyplot).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

#: The start-up lines that were kept off stderr, in order (for environment.json).
STARTUP_LINES: list[str] = []
#: Optional imports of Keras that the first import skips (see the module docstring).
SKIPPED_EXTRAS = ("sklearn", "matplotlib.pyplot")
#: The first of these to be imported is imported quietly.
WATCHED = ("keras", "tensorflow")

_ABSL_NOTICE = re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called")
#: glog/absl format: severity letter, MMDD, time (or seconds), thread id, file:line]
_NATIVE_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] ")


def verbose_requested(environ=os.environ) -> bool:
    """True when the user asked to see the native log lines."""
    if environ.get("CONVOLAB_VERBOSE", "").strip().lower() in ("1", "true", "yes"):
        return True
    return environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0"


def split_startup_lines(text: str) -> tuple[list[str], list[str]]:
    """(chatter, kept) lines of what TensorFlow's import wrote to stderr.

    Chatter: absl's notice, INFO and WARNING lines, and the lines that continue one of them
    (lines not in the log format right after it). Error and fatal lines and anything else
    are kept for the user.
    """
    chatter, kept = [], []
    continuing = False
    for line in text.splitlines():
        match = _NATIVE_LINE.match(line)
        if _ABSL_NOTICE.match(line) or (match and match.group(1) in "IW"):
            chatter.append(line)
            continuing = True
        elif match is None and continuing and line.strip():
            chatter.append(line)
        else:
            kept.append(line)
            continuing = False
    return chatter, kept


class _StderrToFile:
    """While active, file descriptor 2 writes into a temporary file."""

    def __enter__(self):
        sys.stderr.flush()
        self._file = tempfile.TemporaryFile(mode="w+b")
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode("utf-8", "replace")
        self._file.close()
        return False


class _QuietLoader(importlib.abc.Loader):
    """Runs the wrapped loader with stderr captured, then puts the original loader back."""

    def __init__(self, loader, finder):
        self._loader = loader
        self._finder = finder

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = module.__loader__ = self._loader
        skipped = [name for name in SKIPPED_EXTRAS if name not in sys.modules]
        for name in skipped:
            sys.modules[name] = None  # `import name` raises ImportError meanwhile
        self._finder.busy = True  # an import inside this one is captured with it
        try:
            with chatter_kept_off_stderr():
                self._loader.exec_module(module)
        finally:
            self._finder.busy = False
            self._finder.done_when_tensorflow_is_in()
            for name in skipped:
                if sys.modules.get(name, 0) is None:
                    del sys.modules[name]


@contextlib.contextmanager
def chatter_kept_off_stderr():
    """While active, TensorFlow's native chatter written to stderr is kept in STARTUP_LINES;
    every other line reaches stderr when the block ends (also when it fails). Does
    nothing when the user asked for the lines (see `verbose_requested`)."""
    if verbose_requested():
        yield
        return
    captured = _StderrToFile()
    try:
        with captured:
            yield
    finally:
        chatter, kept = split_startup_lines(captured.text)
        STARTUP_LINES.extend(chatter)
        if kept:
            sys.stderr.write("\n".join(kept) + "\n")
            sys.stderr.flush()


class _QuietFirstImport(importlib.abc.MetaPathFinder):
    """Finds `keras` and `tensorflow` with a loader that captures what their import writes,
    until TensorFlow is imported: with the TensorFlow backend inside `import keras`; with
    JAX or torch later, when something imports it (or never)."""

    def __init__(self):
        self.busy = False

    def find_spec(self, name, path=None, target=None):
        if name not in WATCHED or self.busy or name in sys.modules:
            return None
        self.busy = True  # importlib.util.find_spec asks this finder again
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.busy = False
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader, self)
        return spec

    def done_when_tensorflow_is_in(self) -> None:
        """Leave sys.meta_path once TensorFlow is imported: nothing is left to capture."""
        if "tensorflow" in sys.modules and self in sys.meta_path:
            sys.meta_path.remove(self)


def quiet_import() -> None:
    """Keep TensorFlow's start-up chatter off stderr (see the module docstring).

    Does nothing when TensorFlow is already imported or the user asked for the
    lines.
    """
    if "tensorflow" in sys.modules or verbose_requested():
        return
    if not any(isinstance(f, _QuietFirstImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFirstImport())
