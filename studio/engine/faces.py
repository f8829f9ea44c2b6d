"""The face in a Face reference picture, as IP-Adapter FaceID reads it: insightface's identity embedding.

insightface is optional: the studio runs without it, and a Face reference is then refused with what to install
(`studio.control.references.face_refusal`). Its models are the buffalo_l pack (a face detector and ArcFace) in the
ipadapter folder's `insightface/models/buffalo_l`, read from there only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from studio.control.references import FACE_MODELS, face_refusal
from studio.errors import InputError, NotAvailable


class FaceFinder(Protocol):
    def identity(self, picture: Image.Image) -> torch.Tensor:
        """The identity embedding (unit length, 512 values) of the largest face in `picture`; InputError when it
        shows no face."""
        ...


class InsightFaceFinder:
    """insightface's FaceAnalysis on the CPU (detection and recognition only), built on the first Face reference."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._analysis: Any = None

    def identity(self, picture: Image.Image) -> torch.Tensor:
        faces = self._analysis_loaded().get(np.asarray(picture.convert("RGB"))[:, :, ::-1].copy())  # it reads BGR
        if not faces:
            raise InputError(
                "references: insightface found no face in the Face reference's picture; use one where the face is "
                "clear, upright and not too small"
            )
        largest = max(faces, key=lambda face: (face.bbox[2] - face.bbox[0]) * (face.bbox[3] - face.bbox[1]))
        return torch.from_numpy(np.asarray(largest.normed_embedding, dtype=np.float32))

    def _analysis_loaded(self) -> Any:
        if self._analysis is None:
            if (refusal := face_refusal(self.folder)) is not None:
                raise NotAvailable(f"references: {refusal}")
            assert self.folder is not None  # face_refusal said the models are in it
            from insightface.app import FaceAnalysis  # pyright: ignore[reportMissingImports]

            analysis = FaceAnalysis(
                name=FACE_MODELS.name,
                root=str(self.folder / FACE_MODELS.parent.parent),
                allowed_modules=["detection", "recognition"],
                providers=["CPUExecutionProvider"],
            )
            analysis.prepare(ctx_id=-1, det_size=(640, 640))
            self._analysis = analysis
        return self._analysis
