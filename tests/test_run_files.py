"""A damaged model.keras is named and explained before Keras reads it."""

import zipfile

import pytest

from convolab.errors import ConvolabError
from convolab.run import check_keras_file


def keras_like(path, payload=b"weights" * 1000):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", payload)
    return path


def test_a_complete_archive_passes(tmp_path):
    check_keras_file(keras_like(tmp_path / "model.keras"), deep=True)


@pytest.mark.parametrize("damage, words", [
    (lambda p: p.write_bytes(b""), ["is empty"]),
    (lambda p: p.write_bytes(p.read_bytes()[:-200]), ["damaged", "truncated"]),
    (lambda p: p.write_text("not a zip"), ["damaged"]),
])
def test_damaged_files_are_named(tmp_path, damage, words):
    path = keras_like(tmp_path / "model.keras")
    damage(path)
    with pytest.raises(ConvolabError) as info:
        check_keras_file(path)
    assert str(path) in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_an_archive_without_a_model_config(tmp_path):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other.txt", "x")
    with pytest.raises(ConvolabError, match="not a Keras model file"):
        check_keras_file(path)


def test_a_flipped_byte_is_found_by_the_deep_check(tmp_path):
    path = keras_like(tmp_path / "model.keras", payload=bytes(range(256)) * 40)
    data = bytearray(path.read_bytes())
    index = data.index(bytes(range(256)))  # stored uncompressed: the payload is in place
    data[index + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    check_keras_file(path)  # the directory is intact
    with pytest.raises(ConvolabError, match="checksum"):
        check_keras_file(path, deep=True)
