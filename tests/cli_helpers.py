"""Helpers the CLI tests share: run `convolab` in-process and check a user-error exit."""

from convolab.cli import main


def run_cli(capsys, *argv):
    """Run `convolab ARGV...`; return (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors exit from inside main
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code, err, *words):
    """Exit 2 with one `convolab: error:` line on stderr naming each of `words`."""
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("convolab: error:"), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]
