"""The session's draft: the editor, the control maps, the reference pictures and areas as the artist left them,
across a reload."""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from studio.session.drafts import Drafts


def test_the_editor_of_a_node_picture_keeps_its_layers_and_drops_empty_ones(tmp_path):
    drafts = Drafts(tmp_path / "draft")
    assert drafts.editor() is None
    mask = Image.new("RGBA", (8, 8), (0, 0, 255, 255))
    drafts.save_editor({"node": "00003", "index": 1}, mask=mask, paint=None)
    kept = drafts.editor()
    assert kept is not None and kept.source == {"node": "00003", "index": 1} and kept.picture is None
    assert kept.mask is not None and Image.open(kept.mask).tobytes() == mask.tobytes() and kept.paint is None
    drafts.save_editor({"node": "00003", "index": 1}, mask=None, paint=None)
    assert drafts.editor().mask is None and not (tmp_path / "draft" / "editor-mask.png").exists()


def test_an_upload_is_copied_once_and_stays_the_picture_while_it_is_edited(tmp_path):
    upload = tmp_path / "upload.png"
    Image.new("RGB", (12, 10), "teal").save(upload)
    drafts = Drafts(tmp_path / "draft")
    drafts.save_editor({"upload": str(upload)}, mask=None, paint=None, upload=upload)
    kept = drafts.editor()
    assert kept.source == {"upload": True} and kept.picture is not None and kept.uploaded_from == str(upload)
    upload.unlink()  # Gradio's upload cache is gone after a restart: the draft's copy is what counts
    drafts.save_editor({"upload": True}, mask=Image.new("RGBA", (12, 10), (1, 2, 3, 255)), paint=None)
    again = drafts.editor()
    assert again.picture == kept.picture and Image.open(again.picture).size == (12, 10) and again.mask is not None


def test_a_damaged_or_foreign_draft_is_no_draft(tmp_path):
    folder = tmp_path / "draft"
    folder.mkdir()
    for text in ("{", "[]", json.dumps({"schema_version": 99, "source": {}})):
        (folder / "editor.json").write_text(text)
        assert Drafts(folder).editor() is None
    (folder / "editor.json").write_text(
        json.dumps({"schema_version": 1, "source": {"node": "00001", "index": 0}, "mask": "../../etc/passwd"})
    )
    assert Drafts(folder).editor().mask is None


def test_control_maps_are_kept_per_unit(tmp_path):
    drafts = Drafts(tmp_path / "draft")
    drafts.save_map(2, Image.new("RGB", (8, 8), "white"))
    assert drafts.map(2) is not None and drafts.map(1) is None
    drafts.save_map(2, None)
    assert drafts.map(2) is None


def test_reference_pictures_and_areas_are_kept_by_name_and_a_damaged_one_is_none(tmp_path):
    drafts = Drafts(tmp_path / "draft")
    drafts.save_steering("reference-1", Image.new("RGB", (8, 6), "crimson"))
    drafts.save_steering("area-2", Image.new("L", (8, 6), 255))
    assert drafts.steering("reference-1").getpixel((0, 0)) == (220, 20, 60)
    assert drafts.steering("area-2").size == (8, 6) and drafts.steering("reference-1-area") is None
    drafts.save_steering("reference-1", None)
    assert drafts.steering("reference-1") is None
    (tmp_path / "draft" / "area-2.png").write_bytes(b"not a picture")
    assert drafts.steering("area-2") is None
    with pytest.raises(ValueError, match="not a reference or area draft"):
        drafts.save_steering("../editor", Image.new("RGB", (2, 2)))


def test_the_form_is_kept_as_plain_values_and_a_damaged_one_is_no_form(tmp_path):
    drafts = Drafts(tmp_path / "draft")
    assert drafts.form() == {}
    drafts.save_form({"form.prompt": "a lighthouse in fog", "unit1.kind": "seg", "form.styles": ["Ink sketch"]})
    assert drafts.form() == {"form.prompt": "a lighthouse in fog", "unit1.kind": "seg", "form.styles": ["Ink sketch"]}
    (tmp_path / "draft" / "form.json").write_text('{"schema_version": 1, "values": [1]}')
    assert drafts.form() == {}


def test_work_set_aside_is_kept_per_picture_newest_first_and_refuses_a_foreign_source(tmp_path):
    drafts = Drafts(tmp_path / "draft")
    first, second = {"node": "00001", "index": 0}, {"node": "00001", "index": 1}
    mask = Image.new("L", (16, 16), 255)
    drafts.aside(first).save_editor(first, mask=mask, paint=None)
    drafts.aside(second).save_editor(second, mask=None, paint=Image.new("RGBA", (16, 16), (9, 9, 9, 255)))
    os.utime(drafts.aside(first).folder / "editor.json", (1, 1))  # the first is the older
    assert [kept.source for kept in drafts.set_aside()] == [second, first]
    assert Image.open(drafts.aside(first).editor().mask).getextrema() == (255, 255)
    drafts.aside(second).discard()
    assert [kept.source for kept in drafts.set_aside()] == [first]
    assert drafts.editor() is None  # the editor's own draft is apart
    with pytest.raises(ValueError, match="no such picture"):
        drafts.aside({"node": "../x", "index": 0})
