from PIL import Image

from studio.formats import png_text


def test_png_keeps_its_texts(tmp_path):
    path = tmp_path / "picture.png"
    png_text.write_png(Image.new("RGB", (8, 8), "red"), path, {"studio": '{"a": 1}', "parameters": "x"})
    assert png_text.read_texts(path) == {"studio": '{"a": 1}', "parameters": "x"}
    assert png_text.read_studio_json(path) == {"a": 1}
    assert not list(tmp_path.glob(".*.tmp"))


def test_unreadable_png_has_no_studio_json(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n half a file")
    assert png_text.read_studio_json(path) is None
