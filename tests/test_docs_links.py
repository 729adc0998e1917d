"""The README and docs/ link only to files and headings that exist, the README's command
table names only real subcommands and flags, docs/cli.md names every flag, and the README
stays a five-minute read. Plain text parsing and the argparse parser: no Keras."""

import re
import shlex
from pathlib import Path
from urllib.parse import unquote

import pytest

from convolab import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CLI_PAGE = ROOT / "docs" / "cli.md"
README_MAX_LINES = 250


def markdown_files():
    """The pages whose links are checked."""
    return [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "FINDINGS.md",
            ROOT / "examples" / "README.md"]


# --- Markdown: prose lines, headings, links ---------------------------------------------

FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^()\s<>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text):
    """(line number, line) for every line outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        opening = FENCE_OPEN.match(line)
        if fence is None:
            if opening:
                fence = opening.group(1)
            else:
                yield number, line
        elif (opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence)
              and not line.strip().strip(fence[0])):
            fence = None


def github_slug(heading):
    """The anchor GitHub gives a heading: the rendered text in lower case, punctuation
    other than '-' and '_' dropped, each space a '-'."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)", r"\1", heading)  # link text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w: letters and digits of any script, and '_'
    return text.replace(" ", "-")


def anchors(text):
    """Every heading's anchor; a repeated heading gets '-1', '-2', ... as on GitHub."""
    seen, result = {}, set()
    for _, line in prose_lines(text):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug = github_slug(match.group(1))
        while slug in seen:
            seen[base] += 1
            slug = f"{base}-{seen[base]}"
        seen[slug] = 0
        result.add(slug)
    return result


def link_targets(text):
    """(line number, target) of every link and image outside code."""
    for number, line in prose_lines(text):
        # brackets inside `code` are not links; a code span as link text still is one
        line = CODE_SPAN.sub(lambda m: re.sub(r"[\[\]()]", " ", m.group(0)), line)
        for match in LINK.finditer(line):
            yield number, match.group(1)
        reference = REFERENCE.match(line)
        if reference:
            yield number, reference.group(1)


def link_problems(page, root=ROOT):
    """One line per link of `page` whose file or heading does not exist."""
    problems, cache = [], {}
    text = page.read_text(encoding="utf-8")
    for number, target in link_targets(text):
        if URL_SCHEME.match(target):
            continue  # http(s), mailto: not checked here
        path, _, anchor = target.partition("#")
        path = unquote(path)
        if not path:
            file = page
        elif path.startswith("/"):
            file = root / path.lstrip("/")
        else:
            file = page.parent / path
        where = f"{page.relative_to(root)}:{number}: ({target})"
        if not file.exists():
            problems.append(f"{where}: no file {path}")
            continue
        if anchor and file.suffix == ".md":
            if file not in cache:
                cache[file] = anchors(file.read_text(encoding="utf-8"))
            if unquote(anchor) not in cache[file]:
                problems.append(f"{where}: no heading #{anchor} in {file.name}")
    return problems


# --- the README's command table against the real parser -----------------------------------

def table_rows(text, heading):
    """The rows of the first table after `heading`, as {column name: cell text}; cells lose
    their backticks and `\\|` becomes `|`."""
    lines = text.splitlines()
    start = lines.index(heading)
    rows, header = [], None
    for line in lines[start + 1:]:
        if not line.startswith("|"):
            if header:
                break
            continue
        cells = [c.strip().replace("`", "").replace("\\|", "|")
                 for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
        if header is None:
            header = cells
        elif not set("".join(cells)) <= set("-: "):
            rows.append(dict(zip(header, cells)))
    return rows


def subcommands(parser):
    """{name: parser} of `convolab`'s subcommands."""
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


def form_parser(command, first_word):
    """The parser of the rest of the line, for commands whose forms have their own flags
    (`explain train-numpy ...`, `explain RUN_DIR IMAGE ...`)."""
    return cli.explain_form_parser(first_word) if command == "explain" else None


def fixed_words(sub):
    """The words the first positional argument of a subcommand must be one of (its choices,
    or the lower-case forms its metavar names, e.g. RUN_DIR|train-numpy), or None."""
    positional = next((a for a in sub._actions if not a.option_strings), None)
    if positional is None:
        return None
    if positional.choices:
        return set(positional.choices)
    words = (positional.metavar or "").split("|")
    forms = {w for w in words if re.fullmatch(r"[a-z][a-z0-9-]*", w)}
    return forms or None


def command_problems(entry, parser):
    """What is wrong with a command-table entry such as
    `convolab show filters|saliency runs/x [IMAGE] [--class C]`: an unknown subcommand,
    sub-subcommand or flag."""
    words = entry.split()
    if len(words) < 2 or words[0] != "convolab":
        return [f"{entry!r}: not a `convolab COMMAND ...` line"]
    command, rest = words[1], [w.strip("[]") for w in words[2:]]
    commands = subcommands(parser)
    if command not in commands:
        return [f"{entry!r}: no subcommand {command!r} (there are {', '.join(commands)})"]
    sub, problems = commands[command], []
    positional = [w for w in rest if w and not w.startswith("-")]
    first = positional[0] if positional else ""
    allowed = fixed_words(sub)
    if allowed and re.fullmatch(r"[a-z][a-z0-9_|-]*", first):
        for word in first.split("|"):
            if word not in allowed:
                problems.append(f"{entry!r}: `convolab {command} {word}` is not one of "
                                f"{', '.join(sorted(allowed))}")
    options = {o for a in sub._actions for o in a.option_strings}
    form = form_parser(command, first)
    if form is not None:
        options |= {o for a in form._actions for o in a.option_strings}
    for word in rest:
        flag = word.split("=")[0]
        if flag.startswith("--") and flag not in options:
            problems.append(f"{entry!r}: `convolab {command}` has no flag {flag}")
    return problems


def parse_example(example, parser):
    """Parse a full example line with the real parser, as `convolab` would (a mistake
    exits with status 2, as the command itself would)."""
    argv = shlex.split(example)
    assert argv[0] == "convolab", example
    args = parser.parse_args(argv[1:])
    form = form_parser(args.command, getattr(args, "target", None))
    if form is not None:
        form.parse_args(args.rest)
    return args


# --- the tests ------------------------------------------------------------------------------

@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_point_at_files_and_headings_that_exist(page):
    assert link_problems(page) == []


def test_every_docs_page_has_a_title_and_a_way_back():
    for page in sorted((ROOT / "docs").glob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# "), page.name
        assert "[README](../README.md)" in lines[2], page.name
        assert (f"(docs/{page.name})" in README.read_text(encoding="utf-8")
                or f"({page.name})" in (ROOT / "docs" / "index.md").read_text(encoding="utf-8")), \
            f"{page.name} is linked from neither the README nor docs/index.md"


def test_the_readme_is_a_five_minute_read():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_the_command_table_names_real_commands_and_flags(capsys):
    parser = cli.build_parser()
    rows = table_rows(README.read_text(encoding="utf-8"), "## Commands")
    assert len(rows) >= 20, "the command table was not found"
    problems = [p for row in rows for p in command_problems(row["command"], parser)]
    assert problems == []
    named = {row["command"].split()[1] for row in rows}
    assert named == set(subcommands(parser)), "every subcommand has a row, and only those"


def test_the_command_table_examples_parse(capsys):
    parser = cli.build_parser()
    for row in table_rows(README.read_text(encoding="utf-8"), "## Commands"):
        try:
            parse_example(row["example"], parser)
        except SystemExit:
            pytest.fail(f"{row['example']!r}: {capsys.readouterr().err.strip()}")


def test_the_cli_page_names_every_flag():
    text = CLI_PAGE.read_text(encoding="utf-8")
    parsers = [*subcommands(cli.build_parser()).values(), cli._explain_train_numpy_parser(),
               cli._explain_image_parser()]
    flags = {o for p in parsers for a in p._actions for o in a.option_strings
             if o.startswith("--") and o != "--help"}
    missing = sorted(f for f in flags if not re.search("`" + re.escape(f) + r"(?![\w-])", text))
    assert missing == []


# --- the checkers themselves find what is wrong ---------------------------------------------

@pytest.mark.parametrize("heading, slug", [
    ("Serve: draw a digit and watch your model; the prediction API",
     "serve-draw-a-digit-and-watch-your-model-the-prediction-api"),
    ("Evidence for the unit's claims", "evidence-for-the-units-claims"),
    ("`best`: the highest accuracy in 20 minutes", "best-the-highest-accuracy-in-20-minutes"),
    ("Does tuning pay? (`benchmarks/tune_evidence.py`)",
     "does-tuning-pay-benchmarkstune_evidencepy"),
    ("The [run directory](run-directory.md) and `--resume`", "the-run-directory-and---resume"),
    ("Mapa de características", "mapa-de-características"),
])
def test_github_slugs(heading, slug):
    assert github_slug(heading) == slug


def test_the_link_checker_finds_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Second part\n")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"")
    page = tmp_path / "page.md"
    page.write_text("\n".join([
        "# Page", "", "## Twice", "", "## Twice", "",
        "[fine](other.md#second-part) [also fine](#twice-1) ![picture](images/a.png)",
        "[web](https://example.org/nothing.md) `[in code](nowhere.md)`",
        "[gone](missing.md) and [no such part](other.md#third-part) and [here](#twice-2)",
        "```", "[in a fence](nowhere.md)", "```",
        "[ref]: also-missing.md",
    ]) + "\n")
    problems = link_problems(page, root=tmp_path)
    assert len(problems) == 4, problems
    assert "page.md:9: (missing.md): no file missing.md" in problems
    assert "page.md:9: (other.md#third-part): no heading #third-part in other.md" in problems
    assert "page.md:9: (#twice-2): no heading #twice-2 in page.md" in problems
    assert "page.md:13: (also-missing.md): no file also-missing.md" in problems


@pytest.mark.parametrize("entry, words", [
    ("convolab trian [flags]", ["no subcommand 'trian'"]),
    ("convolab data fecth mnist", ["`convolab data fecth`"]),
    ("convolab show filters|heatmap runs/x", ["`convolab show heatmap`"]),
    ("convolab explain train-numpi", ["`convolab explain train-numpi`"]),
    ("convolab train --epochz 3", ["no flag --epochz"]),
    ("convolab explain runs/x IMAGE [--possition R C]", ["no flag --possition"]),
    ("python -m convolab train", ["not a `convolab COMMAND"]),
])
def test_the_command_checker_finds_what_does_not_exist(entry, words):
    problems = command_problems(entry, cli.build_parser())
    assert len(problems) == 1, problems
    for word in words:
        assert word in problems[0]


def test_the_command_checker_accepts_real_forms():
    parser = cli.build_parser()
    for entry in ["convolab explain train-numpy [--epochs N]", "convolab explain runs/x IMAGE",
                  "convolab data fetch mnist --from DIR", "convolab show saliency runs/x [IMAGE]"]:
        assert command_problems(entry, parser) == []


def test_a_bad_example_does_not_parse(capsys):
    with pytest.raises(SystemExit):
        parse_example("convolab predict runs/x photo.jpg --top-k three", cli.build_parser())
    assert "--top-k" in capsys.readouterr().err
