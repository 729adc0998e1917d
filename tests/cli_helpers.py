"""Helpers the CLI tests share: run `convolab` in-process, check a user-error exit, odd files."""

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


def huge_png(path, width=20000, height=20000):
    """A valid PNG header claiming width x height (the pixels are never decoded)."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path
