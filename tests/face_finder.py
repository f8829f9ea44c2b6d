"""A face finder for tests, where insightface (the studio's) is not installed: the picture's 512 grey values
(32 x 16), unit length as insightface's identity embedding is. It stands in for the finder only; everything after
it (FaceID's projection, its LoRA, the pictures) is the real thing."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from studio.engine.tiny_references import IDENTITY_WIDTH


class PixelFace:
    def identity(self, picture: Image.Image) -> torch.Tensor:
        grey = np.asarray(picture.convert("L").resize((32, IDENTITY_WIDTH // 32)), dtype=np.float32).reshape(-1)
        values = torch.from_numpy(grey - 127.5)
        return values / values.norm()
