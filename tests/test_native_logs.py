"""TensorFlow's start-up chatter is told apart from lines the user must see."""

from convolab.native_logs import split_startup_lines, verbose_requested

STARTUP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796231858.343443    2197 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.
W0000 00:00:1796231938.916547    2282 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1796231938.916547    2282 cuda_driver.cc:12] failed call to cuInit: UNKNOWN ERROR (303)
/site-packages/x.py:3: UserWarning: something the user should read
"""


def test_chatter_is_split_from_errors_and_python_warnings():
    chatter, kept = split_startup_lines(STARTUP)
    assert len(chatter) == 4
    assert chatter[0].startswith("WARNING: All log messages")
    assert chatter[3].startswith("To enable the following instructions")
    assert kept == [STARTUP.splitlines()[4], STARTUP.splitlines()[5]]


def test_nothing_to_split():
    assert split_startup_lines("") == ([], [])


def test_verbose_requested_by_the_user():
    assert not verbose_requested({})
    assert verbose_requested({"CONVOLAB_VERBOSE": "1"})
    assert verbose_requested({"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert not verbose_requested({"TF_CPP_MIN_LOG_LEVEL": "2"})


def test_chatter_written_to_fd_2_is_kept_off_stderr(capfd, monkeypatch):
    import os

    from convolab import native_logs

    monkeypatch.delenv("CONVOLAB_VERBOSE", raising=False)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setattr(native_logs, "STARTUP_LINES", [])
    chatter = "I0000 00:00:1796239531.106054   30312 mlir_pass.cc:437] MLIR pass not enabled\n"
    with native_logs.chatter_kept_off_stderr():
        os.write(2, chatter.encode())
        os.write(2, b"E0000 00:00:1796239531.1   30312 x.cc:1] a real error\n")
    err = capfd.readouterr().err
    assert err == "E0000 00:00:1796239531.1   30312 x.cc:1] a real error\n"
    assert native_logs.STARTUP_LINES == [chatter.rstrip("\n")]
