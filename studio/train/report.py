"""A memorization check's report: pure data, saved beside the LoRA as JSON (schema-versioned)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Pair:
    sample: int  # index into the report's samples
    training_picture: str
    score: float


@dataclass(frozen=True)
class MemorizationReport:
    lora: str
    dataset: str
    metric: str
    threshold: float
    overfitted: bool
    closest: list[Pair] = field(default_factory=list)  # the nearest training picture per sample, closest first
    sheet: str = ""  # the side-by-side picture of the closest pairs, saved beside the LoRA

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}

    @property
    def worst(self) -> float:
        return self.closest[0].score if self.closest else 0.0
