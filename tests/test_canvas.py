import numpy as np
from PIL import Image

from studio.canvas import flatten, mask_from_layers


def test_mask_is_the_union_of_painted_pixels():
    first = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    first.paste((255, 0, 0, 40), (0, 0, 4, 4))  # faint paint still counts
    second = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    second.paste((0, 0, 255, 255), (8, 8, 12, 12))
    mask = np.asarray(mask_from_layers([first, second], (16, 16)))
    assert set(np.unique(mask)) == {0, 255}
    assert mask[:4, :4].all() and mask[8:12, 8:12].all() and mask.sum() == 32 * 255


def test_no_layers_is_an_empty_mask():
    assert not mask_from_layers([], (8, 8)).getbbox()


def test_flatten_puts_transparency_on_white():
    image = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    image.putpixel((1, 0), (10, 20, 30, 255))
    assert list(flatten(image).getdata()) == [(255, 255, 255), (10, 20, 30)]
