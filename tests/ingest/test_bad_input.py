"""Bad input in an image folder: a clear typed error naming the file or folder, or ignored and
listed. Nothing is left behind in the examples root when ingest refuses."""

from __future__ import annotations

import io
import shutil
import struct
import zlib

import pytest
from PIL import Image

from ingest import settings, spans, walk
from ingest.errors import (
    BadImageError,
    ClassFolderError,
    DataError,
    ImageTooLargeError,
    LayoutError,
)
from ingest.folder_plan import NOT_IN_A_CLASS_FOLDER, plan_folder
from tests.image_folder_fixtures import write_image_folder

CLASSES = ("airplane", "cat", "ship")


@pytest.fixture
def photos(tmp_path):
    return write_image_folder(tmp_path / "photos", CLASSES, per_class=8)


def png_bomb(width: int, height: int) -> bytes:
    """A valid all-black 8-bit gray PNG of width x height: under a megabyte on disk for
    30,000 x 30,000, 900 MB once decoded. Identical deflate blocks after full flushes are
    repeated, so building it costs a second, not a 900 MB compression."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = 1000
    block = b"\0" * ((width + 1) * rows)  # filter byte + samples, per row
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(height // rows):
        adler = zlib.adler32(block, adler)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    idat = b"\x78\xda" + segment * (height // rows) + final + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def assert_no_span(tmp_path):
    examples = tmp_path / "ex"
    assert not examples.exists() or list(examples.iterdir()) == []


def test_corrupt_image_is_an_error_naming_it_or_skipped_and_listed(photos, tmp_path):
    bad = photos / "cat" / "broken.jpg"
    bad.write_bytes(b"this is not a JPEG at all" * 10)
    with pytest.raises(BadImageError, match=r"broken\.jpg.*--skip-bad-images") as error:
        spans.prepare_span(photos, tmp_path / "ex")
    assert error.value.path == bad
    assert_no_span(tmp_path)

    info = spans.prepare_span(photos, tmp_path / "ex", skip_bad_images=True)
    assert [s.path for s in info.bad_images] == ["cat/broken.jpg"]
    assert sum(info.description.counts[s]["cat"] for s in info.counts) == 8
    assert spans.prepare_span(photos, tmp_path / "ex", skip_bad_images=True).bad_images == (
        info.bad_images  # a reused span lists them too
    )


def test_truncated_image_is_found_when_decoded(photos, tmp_path):
    pixels = io.BytesIO()
    Image.open(next((photos / "ship").iterdir())).save(pixels, format="PNG")
    whole = pixels.getvalue()
    (photos / "ship" / "cut.png").write_bytes(whole[: len(whole) // 2])  # header intact
    with pytest.raises(BadImageError, match=r"cut\.png: corrupt or truncated"):
        spans.prepare_span(photos, tmp_path / "ex")
    assert_no_span(tmp_path)
    info = spans.prepare_span(photos, tmp_path / "ex", skip_bad_images=True)
    assert [s.path for s in info.bad_images] == ["ship/cut.png"]


def test_a_skipped_bad_image_does_not_decide_the_input_shape(photos, tmp_path):
    big = io.BytesIO()
    Image.open(next((photos / "ship").iterdir())).resize((256, 256)).save(big, format="JPEG")
    (photos / "ship" / "cut.jpg").write_bytes(big.getvalue()[: len(big.getvalue()) // 2])
    info = spans.prepare_span(photos, tmp_path / "ex", skip_bad_images=True)
    assert [s.path for s in info.bad_images] == ["ship/cut.jpg"]
    assert info.description.image_shape == (32, 32, 3)


def test_empty_non_image_and_hidden_files_are_ignored_and_listed(photos, tmp_path):
    (photos / "cat" / "empty.png").write_bytes(b"")
    (photos / "cat" / "notes.txt").write_text("taken in 2019")
    (photos / "cat" / ".DS_Store").write_bytes(b"\0\1")
    hidden = photos / "ship" / ".thumbnails"
    hidden.mkdir()
    shutil.copy(next((photos / "ship").glob("*.jpg")), hidden / "thumb.jpg")
    (photos / ".cache").mkdir()  # a hidden folder at the root is no class
    (photos / "README.md").write_text("my photos")

    info = spans.prepare_span(photos, tmp_path / "ex")
    assert info.description.class_names == CLASSES
    reasons = {s.path: s.reason for s in info.ignored}
    assert reasons == {
        ".cache": walk.HIDDEN,
        "README.md": NOT_IN_A_CLASS_FOLDER,
        "cat/.DS_Store": walk.HIDDEN,
        "cat/empty.png": walk.EMPTY_FILE,
        "cat/notes.txt": walk.NOT_AN_IMAGE,
        "ship/.thumbnails": walk.HIDDEN,
    }
    assert sum(info.counts.values()) == 3 * 8


@pytest.mark.parametrize("content", [None, "notes.txt"])
def test_empty_class_folder_is_an_error_naming_it(photos, tmp_path, content):
    empty = photos / "bird"
    empty.mkdir()
    if content:
        (empty / content).write_text("no images here")
    with pytest.raises(ClassFolderError, match=r"photos/bird: class folder 'bird' holds no images"):
        spans.prepare_span(photos, tmp_path / "ex")
    assert_no_span(tmp_path)


def test_one_class_is_an_error(tmp_path):
    root = write_image_folder(tmp_path / "photos", ("cat",), per_class=5)
    with pytest.raises(ClassFolderError, match="only the class folder 'cat'.*at least two"):
        spans.prepare_span(root, tmp_path / "ex")


def test_class_folders_one_level_down_are_pointed_at(tmp_path):
    write_image_folder(tmp_path / "download" / "images", CLASSES, per_class=4)
    with pytest.raises(ClassFolderError, match=r"one level down, in .*download/images\?"):
        spans.prepare_span(tmp_path / "download", tmp_path / "ex")


def test_a_class_missing_from_the_test_split_is_an_error_naming_it(tmp_path):
    root = write_image_folder(tmp_path / "photos", CLASSES, per_class=4, test_per_class=2)
    shutil.rmtree(root / "test" / "cat")
    with pytest.raises(ClassFolderError, match=r"class\(es\) cat .*no folder in the test split"):
        spans.prepare_span(root, tmp_path / "ex")
    (root / "test" / "cat").mkdir()
    with pytest.raises(ClassFolderError, match=r"test/cat: class folder 'cat' holds no images"):
        spans.prepare_span(root, tmp_path / "ex")


def test_a_class_only_in_the_test_split_is_an_error(tmp_path):
    root = write_image_folder(tmp_path / "photos", CLASSES, per_class=4, test_per_class=2)
    shutil.copytree(root / "test" / "cat", root / "test" / "dog")
    with pytest.raises(ClassFolderError, match=r"class\(es\) dog are not in .*train"):
        spans.prepare_span(root, tmp_path / "ex")


def test_a_class_too_small_to_carve_is_an_error_naming_its_folder(tmp_path):
    root = write_image_folder(tmp_path / "photos", CLASSES, per_class=4)
    for extra in sorted((root / "ship").iterdir())[2:]:
        extra.unlink()
    with pytest.raises(ClassFolderError, match=r"photos/ship: 2 image\(s\) are too few"):
        spans.prepare_span(root, tmp_path / "ex")


def test_symlink_loop_does_not_hang_and_linked_files_are_followed(photos, tmp_path):
    (photos / "cat" / "loop").symlink_to(photos / "cat", target_is_directory=True)
    (photos / "cat" / "up").symlink_to(photos, target_is_directory=True)
    outside = tmp_path / "elsewhere.jpg"
    shutil.copy(next((photos / "ship").glob("*.jpg")), outside)
    (photos / "ship" / "linked.jpg").symlink_to(outside)
    (photos / "ship" / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")

    plan = plan_folder(photos, settings.LAYOUT_IMAGE_FOLDER)
    reasons = {s.path: s.reason for s in plan.ignored}
    assert reasons["cat/loop"] == walk.SYMLINK_LOOP
    assert reasons["cat/up/cat"] == walk.SYMLINK_LOOP  # photos/cat again, by another route
    assert "ship/dangling.jpg" in reasons
    relatives = {i.relative for i in plan.images}
    assert "ship/linked.jpg" in relatives
    # the link back to the root walks the other classes' folders once, inside class "cat"
    assert sum(1 for r in relatives if r.startswith("cat/up/")) == 2 * 8 + 1  # + linked.jpg


def test_names_with_spaces_and_non_ascii_characters_work(tmp_path):
    root = write_image_folder(tmp_path / "mes photos", CLASSES, per_class=5)
    (root / "cat").rename(root / "chat noir")
    (root / "ship").rename(root / "船")
    for i, image in enumerate(sorted((root / "船").iterdir())):
        image.rename(root / "船" / f"photo n°{i} été.jpg")
    info = spans.prepare_span(root, tmp_path / "ex")
    assert info.description.class_names == ("airplane", "chat noir", "船")
    assert sum(info.description.counts[s]["船"] for s in info.counts) == 5
    assert spans.prepare_span(root, tmp_path / "ex").reused


def test_decompression_bomb_is_refused_from_its_header(photos, tmp_path):
    bomb = photos / "cat" / "bomb.png"
    bomb.write_bytes(png_bomb(30_000, 30_000))
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(
        ImageTooLargeError, match=r"bomb\.png: refused: .*900000000 pixels.*MAX_IMAGE_PIXELS"
    ):
        spans.prepare_span(photos, tmp_path / "ex")
    assert_no_span(tmp_path)
    info = spans.prepare_span(photos, tmp_path / "ex", skip_bad_images=True)
    assert [s.path for s in info.bad_images] == ["cat/bomb.png"]


def test_images_over_the_pixel_limit_but_under_pillows_are_refused_too(photos, tmp_path):
    (photos / "cat" / "huge.png").write_bytes(png_bomb(8_000, 6_000))  # 48 megapixels
    with pytest.raises(ImageTooLargeError, match=r"huge\.png: refused: 8000x6000 .*MAX_IMAGE"):
        spans.prepare_span(photos, tmp_path / "ex")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "it is empty"),
        (lambda root: (root.mkdir(), (root / "a.jpg").write_bytes(b"x")), "found 1 file"),
    ],
)
def test_a_data_root_in_no_layout_says_which_layouts_exist(tmp_path, make, message):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(LayoutError, match=message) as error:
        spans.prepare_span(root, tmp_path / "ex")
    assert "DIR/<class>/<image>" in str(error.value)


def test_split_folders_without_test_or_with_strays_are_errors(tmp_path):
    root = write_image_folder(tmp_path / "photos", CLASSES, per_class=4, test_per_class=2)
    (root / "test").rename(root / "val")
    with pytest.raises(LayoutError, match=r"split folders need test/ \(found train/, val/\)"):
        spans.prepare_span(root, tmp_path / "ex")
    (root / "val").rename(root / "test")
    (root / "extra").mkdir()
    with pytest.raises(LayoutError, match="folders extra are not split folders"):
        spans.prepare_span(root, tmp_path / "ex")


def test_every_ingest_error_is_a_data_error_and_the_historical_name_catches_it():
    from ingest import cifar10

    for kind in (BadImageError, ClassFolderError, ImageTooLargeError, LayoutError):
        assert issubclass(kind, DataError) and issubclass(kind, cifar10.CifarDataError)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"channels": 2}, "channels must be 1 .gray. or 3"),
        ({"image_size": (0, 32)}, "two positive integers"),
        ({"image_size": (10_000, 10_000)}, "over the 40,000,000-pixel limit"),
        ({"limit": 0}, "limit must be a positive"),
        ({"layout": "folders"}, "unknown layout 'folders'"),
    ],
)
def test_impossible_options_are_data_errors(photos, tmp_path, options, message):
    with pytest.raises(DataError, match=message):
        spans.prepare_span(photos, tmp_path / "ex", **options)
