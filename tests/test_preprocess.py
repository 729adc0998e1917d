"""prepare_image / prepare_files: user photos and scans become model input."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from convolab.errors import ConvolabError
from convolab.preprocess import prepare_files, prepare_image

SEVEN = [(700, 150), (950, 150), (800, 600)]  # an off-centre "7" on a 1200x900 page


def _paper_photo(strokes, size=(1200, 900), paper=225, ink=(40, 40, 50), width=30, noise=6):
    """A noisy light-paper RGB photo with dark strokes drawn on it."""
    rng = np.random.default_rng(0)
    noise = rng.normal(paper, noise, (size[1], size[0], 3)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(noise)
    draw = ImageDraw.Draw(img)
    for stroke in strokes:
        draw.line(stroke, fill=ink, width=width)
    return img


def _ink_box(a, level=64):
    """(height, width) of the box around pixels brighter than `level`."""
    rows, cols = np.nonzero(a > level)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def _centre_of_mass(a):
    rows, cols = np.indices(a.shape)
    return (rows * a).sum() / a.sum(), (cols * a).sum() / a.sum()


def _mnist_ring():
    """A 28x28 MNIST-style "0": bright ink on black, 20 px tall, centred."""
    big = Image.new("L", (200, 200), 0)
    ImageDraw.Draw(big).ellipse([30, 10, 170, 190], outline=255, width=22)
    small = big.crop(big.getbbox()).resize((16, 20), Image.LANCZOS)
    field = Image.new("L", (28, 28), 0)
    field.paste(small, (6, 4))
    return field


def _assert_mnist_like(a, size=28):
    assert a.dtype == np.float32 and a.shape == (size, size)
    assert a.max() == pytest.approx(255.0, abs=1.0)
    assert a.min() == 0.0
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    assert (border == 0).all()
    height, width = _ink_box(a)
    assert abs(max(height, width) - round(size * 20 / 28)) <= 1
    cy, cx = _centre_of_mass(a)
    assert abs(cy - size / 2) <= 1 and abs(cx - size / 2) <= 1


def test_paper_photo_becomes_an_mnist_digit():
    out = prepare_image(_paper_photo([SEVEN]), (28, 28, 1), "mnist")
    assert out.shape == (28, 28, 1)
    a = out[:, :, 0]
    _assert_mnist_like(a)
    # Bright ink on a black background: most pixels are exactly 0, the stroke is bright.
    assert (a == 0).mean() > 0.6
    assert np.sort(a.ravel())[-20:].min() > 200
    # A "7": the top bar spans the digit, the top row of ink is wider than the bottom one.
    rows = np.flatnonzero(a.max(axis=1) > 127)
    assert (a[rows[0]] > 127).sum() > 2 * (a[rows[-1]] > 127).sum()


def test_dark_board_photo_is_not_inverted_and_matches_paper():
    paper = prepare_image(_paper_photo([SEVEN]), (28, 28, 1), "mnist")[:, :, 0]
    board = prepare_image(_paper_photo([SEVEN], paper=30, ink=(230, 230, 220)),
                          (28, 28, 1), "mnist")[:, :, 0]
    _assert_mnist_like(board)
    assert np.abs(board - paper).mean() < 10


def test_specks_of_dirt_and_grainy_paper_change_nothing():
    clean = prepare_image(_paper_photo([SEVEN], noise=1), (28, 28, 1), "mnist")[:, :, 0]
    dirty = _paper_photo([SEVEN])
    draw = ImageDraw.Draw(dirty)
    for x, y in [(20, 20), (1150, 40), (60, 860), (1100, 850)]:
        draw.ellipse([x, y, x + 6, y + 6], fill=(30, 30, 30))
    grainy = _paper_photo([SEVEN], noise=35)
    for img in (dirty, grainy):
        out = prepare_image(img, (28, 28, 1), "mnist")[:, :, 0]
        _assert_mnist_like(out)
        assert np.abs(out - clean).mean() < 1


def test_thin_pen_strokes_are_thickened():
    one = [[(300, 100), (300, 800)], [(300, 100), (200, 250)]]
    a = prepare_image(_paper_photo(one, width=5), (28, 28, 1), "mnist")[:, :, 0]
    _assert_mnist_like(a)
    middle = a[10:18]  # rows through the vertical stroke only
    ink_per_row = middle.sum(axis=1) / 255.0  # stroke width in px, counting grey as partial
    assert ink_per_row.min() >= 1.4


def test_mnist_style_input_round_trips():
    ring = _mnist_ring()
    expected = np.asarray(ring, dtype=np.float32)
    out = prepare_image(ring, (28, 28, 1), "mnist")[:, :, 0]
    assert np.abs(out - expected).mean() < 5
    assert np.corrcoef(out.ravel(), expected.ravel())[0, 1] > 0.98


def test_blank_page_gives_a_blank_input():
    out = prepare_image(_paper_photo([]), (28, 28, 1), "mnist")
    assert out.shape == (28, 28, 1) and out.dtype == np.float32
    assert not out.any()


def test_transparent_background_counts_as_white_paper():
    img = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(150, 40), (150, 260)], fill=(0, 0, 0, 255), width=30)
    a = prepare_image(img, (28, 28, 1), "mnist")[:, :, 0]
    _assert_mnist_like(a)


def test_sixteen_bit_scan_matches_its_eight_bit_version():
    eight = _paper_photo([SEVEN], noise=1).convert("L")
    sixteen = Image.fromarray(np.asarray(eight).astype(np.uint16) * 257)
    assert sixteen.mode == "I;16"
    expected = prepare_image(eight, (28, 28, 1), "mnist")
    np.testing.assert_allclose(prepare_image(sixteen, (28, 28, 1), "mnist"), expected, atol=1)


def test_mnist_style_scales_to_other_sizes_and_rgb():
    out = prepare_image(_paper_photo([SEVEN]), (56, 56, 3), "mnist")
    assert out.shape == (56, 56, 3)
    np.testing.assert_array_equal(out[:, :, 0], out[:, :, 2])
    _assert_mnist_like(out[:, :, 0], size=56)


def test_resize_style_keeps_colours_and_shape():
    img = Image.new("RGB", (120, 60), (200, 30, 10))
    rgb = prepare_image(img, (32, 32, 3), "resize")
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.float32
    np.testing.assert_allclose(rgb[16, 16], [200, 30, 10], atol=1)
    grey = prepare_image(img, (28, 28, 1), "resize")
    assert grey.shape == (28, 28, 1)
    assert grey[14, 14, 0] == pytest.approx(np.asarray(img.convert("L"))[30, 60], abs=1)


def test_fashion_style_trims_fits_and_centres_a_product_photo():
    from PIL import ImageDraw

    page = Image.new("RGB", (600, 400), (245, 245, 245))
    draw = ImageDraw.Draw(page)
    draw.rectangle((60, 150, 360, 300), fill=(30, 30, 60))  # a dark "bag", off-centre
    draw.rectangle((150, 90, 270, 150), outline=(30, 30, 60), width=12)  # its handle
    out = prepare_image(page, (28, 28, 1), "fashion")[:, :, 0]
    rows, cols = np.nonzero(out > 20)
    assert cols.max() - cols.min() + 1 >= 27  # the longer side fills the 28 px
    assert abs((rows.min() + rows.max()) / 2 - 13.5) <= 1  # centred
    assert out[rows.min():rows.max() + 1].max() > 200  # the product is bright on black
    assert out[0].max() == 0 and out[-1].max() == 0
    mnist = prepare_image(page, (28, 28, 1), "mnist")[:, :, 0]
    assert np.ptp(np.nonzero(mnist > 20)[1]) + 1 <= 21  # digits keep the 20 px box instead


@pytest.mark.parametrize("shape, style, words", [
    ((28, 28, 1), "mnsit", "not one of mnist, fashion, resize"),
    ((28, 28, 4), "resize", "1 or 3 channels"),
    ((28, 28), "resize", "height, width, channels"),
])
def test_bad_style_or_shape_raises(shape, style, words):
    with pytest.raises(ConvolabError, match=words):
        prepare_image(Image.new("L", (10, 10)), shape, style)


def _write_png(path, img):
    img.save(path, format="PNG")
    return path


def test_prepare_files_reports_bad_files_and_keeps_the_good_one(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    good = _write_png(folder / "a_good.png", _mnist_ring())
    (folder / "b_empty.png").write_bytes(b"")
    whole = _write_png(tmp_path / "whole.png", _paper_photo([SEVEN], size=(300, 200)))
    (folder / "c_truncated.png").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    (folder / "notes.txt").write_text("not an image")
    (folder / "nested").mkdir()
    _write_png(folder / "nested" / "d.png", _mnist_ring())  # not scanned: not recursive

    batch, ok, errors = prepare_files([str(folder)], (28, 28, 1), "mnist")

    assert batch.shape == (1, 28, 28, 1) and batch.dtype == np.float32
    assert ok == [str(good)]
    np.testing.assert_array_equal(batch[0], prepare_image(_mnist_ring(), (28, 28, 1), "mnist"))
    assert [path for path, _ in errors] == [str(folder / "b_empty.png"),
                                           str(folder / "c_truncated.png")]
    for path, message in errors:
        assert path in message and "\n" not in message
    assert "empty" in errors[0][1]
    assert "truncated" in errors[1][1]


def test_prepare_files_missing_path_and_empty_folder_are_errors(tmp_path):
    good = _write_png(tmp_path / "digit.png", _mnist_ring())
    empty = tmp_path / "nothing"
    empty.mkdir()
    missing = tmp_path / "missing.png"

    batch, ok, errors = prepare_files([missing, good, empty], (28, 28, 1), "mnist")

    assert ok == [str(good)] and len(batch) == 1
    by_path = dict(errors)
    assert set(by_path) == {str(missing), str(empty)}
    assert "does not exist" in by_path[str(missing)]
    assert "no image files" in by_path[str(empty)]


def test_prepare_files_with_nothing_usable_returns_an_empty_batch(tmp_path):
    batch, ok, errors = prepare_files([tmp_path / "nope.jpg"], (32, 32, 3), "resize")
    assert batch.shape == (0, 32, 32, 3) and batch.dtype == np.float32
    assert ok == [] and len(errors) == 1
