"""Control maps, poses and fix regions read from pictures: the ControlNet preprocessors, app-wide, on the CPU."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from PIL import Image

from studio.errors import NotAvailable

if TYPE_CHECKING:  # the pose editor draws with OpenCV; the studio only passes poses along
    from studio.control.pose import Pose


class MapMaker(Protocol):
    """What the studio needs from studio.engine.annotators.Preprocessors."""

    def run(self, name: str, picture: Image.Image, settings: Mapping[str, float] | None = None) -> Image.Image: ...

    def detect_pose(self, picture: Image.Image) -> Pose | None: ...

    def find_regions(
        self, picture: Image.Image, labels: tuple[str, ...]
    ) -> list[tuple[str, tuple[int, int, int, int]]]:
        """(label, box) of each face or hand found in `picture`, for the labels asked for."""
        ...


class Maps:
    """The preprocessors (None: a studio started without them, which still takes maps made by hand)."""

    def __init__(self, map_maker: MapMaker | None = None) -> None:
        self._map_maker = map_maker

    def control_map(
        self, preprocessor: str, picture: Image.Image, settings: Mapping[str, float] | None = None
    ) -> Image.Image:
        """The control map a preprocessor makes of `picture` (AnnotatorMissing says which weights are missing)."""
        return self._require().run(preprocessor, picture, settings)

    def detect_pose(self, picture: Image.Image) -> Pose | None:
        """The first person's OpenPose skeleton in `picture`, or None when there is nobody."""
        return self._require().detect_pose(picture)

    def find_regions(
        self, picture: Image.Image, labels: tuple[str, ...]
    ) -> list[tuple[str, tuple[int, int, int, int]]]:
        """Faces and hands found in `picture` (AnnotatorMissing, in seconds, when the detector's weights are absent)."""
        return self._require().find_regions(picture, labels)

    def _require(self) -> MapMaker:
        if self._map_maker is None:
            raise NotAvailable("preprocessor: this studio was started without preprocessors")
        return self._map_maker
