"""The environment record names the CPU precisely enough to compare timings across machines."""

from convolab.environment import _cpu_info


def test_cpu_info_reads_family_model_and_vector_extensions(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\n"
        "model name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 sha_ni\n\n"
        "processor\t: 1\nmodel name\t: Something Else\nflags\t\t: fpu\n")
    info = _cpu_info(str(cpuinfo))
    assert info == {"cpu": "AMD EPYC", "cpu_family_model": "26/2",
                    "cpu_features": ["avx2", "fma", "avx512f", "avx512_bf16"]}


def test_cpu_info_reads_arm_features_and_survives_a_missing_file(tmp_path):
    arm = tmp_path / "cpuinfo"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd sve\nCPU implementer\t: 0x41\n")
    info = _cpu_info(str(arm))
    assert info["cpu_features"] == ["asimd", "sve"] and info["cpu_family_model"] is None
    missing = _cpu_info(str(tmp_path / "absent"))
    assert missing["cpu"] and missing["cpu_features"] == []
