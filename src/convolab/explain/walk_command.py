"""`convolab explain RUN_DIR IMAGE`: print the walk-through, write its page, update the report.

    result, page = explain_command("runs/default", "test:0", terminal=False)
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConvolabError, did_you_mean
from ..run import Run, partial_dir
from .inputs import check_image_arg
from .walkthrough import Walkthrough, explain_image

#: The `convolab explain` forms named by a word instead of a run directory.
FORMS = ("train-numpy",)


def check_target(target: str) -> None:
    """Raise a ConvolabError when `target` is neither a form nor an existing path."""
    if target in FORMS or Path(target).exists() or partial_dir(target).exists():
        return  # a missing or incomplete run directory is explained by Run.load
    raise ConvolabError(f"`convolab explain {target}`: {target} is neither a run directory "
                        f"nor a form{did_you_mean(target, FORMS)}; use `convolab explain "
                        f"RUN_DIR IMAGE` or `convolab explain train-numpy [flags]`")


def _check_html(path: str | os.PathLike | None) -> None:
    if path is None:
        return
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ConvolabError(f"--html {path} must end in .html (the walk-through is a web page)")
    if path.is_dir():
        raise ConvolabError(f"--html {path} is a folder; give a file name ending in .html")


def explain_command(run_dir: str | Path, image: str,
                    position: tuple[int, int] | None = None,
                    html: str | os.PathLike | None = None, terminal: bool = True,
                    console=None, lang: str = "en") -> tuple[Walkthrough, Path]:
    """Walk IMAGE through the run's model; print it (unless `terminal` is False), write the
    page (default RUN_DIR/explain/<image stem>.html) in `lang` and re-render
    RUN_DIR/report.html (in the report's own language)."""
    from ..report.html import write_report
    from .walk_html import write_walkthrough_html

    _check_html(html)
    Run.load(run_dir)
    check_image_arg(image)
    result = explain_image(run_dir, image, position)
    if terminal:
        from .walk_terminal import print_walkthrough

        print_walkthrough(result, console)
    page = write_walkthrough_html(result, html, lang=lang)
    write_report(result.run_dir)
    return result, page
