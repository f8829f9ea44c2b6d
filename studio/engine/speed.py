"""The fast path: the UNet and ControlNets compiled with torch.compile (and CUDA graphs on a GPU).

Eager PyTorch launches each of a UNet's kernels from Python, one by one; at 512 px on an H100 that
launching, not the arithmetic, sets the pace. Compiled, the kernels are fused, and with CUDA graphs a
whole UNet call is replayed as one launch.

What the fast path promises:
- It never fails a run. When compiling fails (no Triton, a GPU too old, no C++ compiler) or the
  compiled code fails where eager code does not, the run starts again eagerly, the fast path stays off
  for the rest of the session, and the studio says so once.
- A restart does not compile again: inductor's caches live in the studio's cache folder
  (`<cache>/compiled`), not in /tmp, so the next start loads the kernels the last one built.
- It is on by default where it works (CUDA, compute capability 7.0 or newer, Triton installed, the whole
  model on the GPU) and off elsewhere, saying why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import torch
from torch.utils._pytree import tree_map_only

from studio.engine.models import DeviceSettings

logger = logging.getLogger("studio")
Result = TypeVar("Result")

COMPILED_FOLDER = "compiled"  # in the studio's cache folder: inductor's kernels, kept across restarts
OLDEST_CAPABILITY = (7, 0)  # Triton compiles for Volta and newer


def why_not_fast(settings: DeviceSettings) -> tuple[str | None, bool]:
    """Why the fast path is off by default for `settings` (None: it is on), and whether `--fast` may still force it.

    Only a reason of cost can be overridden (the CPU compiles, slowly and for little gain); the others
    are things that would not run.
    """
    if settings.offloads:
        return f"the {settings.memory} memory mode moves the model between the CPU and the GPU during a run", False
    if settings.kind == "mps":
        return "torch.compile does not yet run reliably on Apple GPUs", False
    if settings.kind == "cpu":
        return "on the CPU compiling takes about a minute and gains little", True
    if settings.kind == "cuda":
        capability = torch.cuda.get_device_capability()
        if capability < OLDEST_CAPABILITY:
            return f"this GPU (compute capability {capability[0]}.{capability[1]}) is older than Triton supports", False
        from torch.utils._triton import has_triton

        if not has_triton():
            return "Triton is not installed (pip install triton)", False
        return None, True
    return f"the fast path is not made for {settings.device}", False


class FastPath:
    """Compiles the modules a run spends its time in; runs eagerly from the first failure on."""

    def __init__(
        self, *, enabled: bool, why_not: str = "", cuda_graphs: bool = False, cache_folder: Path | None = None
    ):
        self.enabled = enabled
        self.why_not = why_not
        self.cuda_graphs = cuda_graphs
        self.cache_folder = cache_folder
        self.notice: str | None = None  # set once, when the fast path turned itself off
        self._modules: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()

    @classmethod
    def for_device(cls, settings: DeviceSettings, *, wanted: bool | None, cache_dir: Path) -> FastPath:
        """`wanted`: None lets the device decide (fast where it works), True is --fast, False --no-fast."""
        if wanted is False:
            return cls(enabled=False, why_not="turned off (--no-fast)")
        why_not, may_force = why_not_fast(settings)
        if why_not is not None and not (wanted and may_force):
            return cls(enabled=False, why_not=why_not)
        return cls(enabled=True, cuda_graphs=settings.kind == "cuda", cache_folder=cache_dir / COMPILED_FOLDER)

    def describe(self) -> str:
        """The speed in the artist's words, for the window and the console."""
        if self.enabled:
            kind = "compiled, with CUDA graphs" if self.cuda_graphs else "compiled"
            return f"fast ({kind}; the first picture at a new size compiles once, then it is kept on disk)"
        return f"eager: {self.why_not}"

    def compile(self, module: torch.nn.Module, *, feeds_another: bool = False) -> None:
        """Compile `module` in place (it stays the same object: diffusers and peft keep working on it).

        `feeds_another`: its outputs are inputs of another compiled module (a ControlNet's residuals go into
        the UNet). Under CUDA graphs each compiled call starts a new iteration, which recycles the memory of
        the last one's outputs, so such outputs are copied out first: else the UNet would read residuals
        already overwritten (seen on an H200: the first ControlNet run turned the fast path off for good).
        """
        if not self.enabled:
            return
        if self.cache_folder is not None:
            # Inductor's default is under /tmp, which a reboot empties (importing diffusers already set it).
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(self.cache_folder)
        # "reduce-overhead" replays each UNet call as a CUDA graph; shapes start static and turn dynamic
        # at the second size, so a third size does not compile again.
        try:
            module.compile(mode="reduce-overhead" if self.cuda_graphs else "default")
        except Exception as error:  # torch.compile refusing this setup outright (a Python it does not support)
            self.fall_back(error)
            return
        compiled_call = module._compiled_call_impl
        if feeds_another and self.cuda_graphs and compiled_call is not None:
            module._compiled_call_impl = outputs_copied(compiled_call)
        self._modules.add(module)

    @property
    def compiled(self) -> bool:
        return self.enabled and any(_is_compiled(module) for module in self._modules)

    def run(self, attempt: Callable[[], Result]) -> Result:
        """`attempt()`, and if the compiled code fails, `attempt()` again eagerly (it must start afresh each time).

        A failure of the compiler itself turns the fast path off. Any other failure is tried once more
        eagerly: if the eager run succeeds, the compiled code was at fault and the fast path goes off;
        if it fails too, the fault is the run's own, and its eager error is raised.
        """
        if not self.compiled:
            return attempt()
        try:
            return attempt()
        except (torch.OutOfMemoryError, ValueError):
            raise  # the run's own: a smaller size would fail or pass the same way compiled or not
        except Exception as error:
            if is_out_of_memory(error):
                raise  # while compiling, say (a new size): memory is short, not the compiler at fault
            if _is_compiler_error(error):
                self.fall_back(error)
                return attempt()
            with self.eager():
                result = attempt()
            self.fall_back(error)
            return result

    def fall_back(self, error: BaseException) -> None:
        """Turn the fast path off for good in this session, with one notice."""
        for module in list(self._modules):
            module._compiled_call_impl = None  # nn.Module.compile's own switch back to the eager call
        self._modules.clear()
        self.enabled = False
        self.why_not = f"the fast path failed ({_first_line(error)})"
        self.notice = f"The fast path failed and the studio runs eagerly from now on: {_first_line(error)}"
        logger.warning(self.notice)
        with contextlib.suppress(Exception):
            torch.compiler.reset()  # frees what compiling held (CUDA graph memory pools among it)

    def take_notice(self) -> str | None:
        """The fall-back notice, once (the window shows it after the run it happened in)."""
        notice, self.notice = self.notice, None
        return notice

    @contextlib.contextmanager
    def eager(self) -> Iterator[None]:
        """The compiled modules run eagerly inside (training: compiling its backward pass would stall it)."""
        saved = {module: module._compiled_call_impl for module in list(self._modules)}
        for module in saved:
            module._compiled_call_impl = None
        try:
            yield
        finally:
            for module, compiled_call in saved.items():
                if module in self._modules:  # not when the fast path fell back meanwhile
                    module._compiled_call_impl = compiled_call


def outputs_copied(call: Callable[..., Result]) -> Callable[..., Result]:
    """`call`, with every tensor it returns copied (outside the compiled region, where the copy must be)."""

    def copied(*args, **kwargs) -> Result:
        return tree_map_only(torch.Tensor, torch.clone, call(*args, **kwargs))

    return copied


def _is_compiled(module: torch.nn.Module) -> bool:
    return getattr(module, "_compiled_call_impl", None) is not None


def is_out_of_memory(error: BaseException | None) -> bool:
    """Whether `error` is, or was raised because of, running out of GPU memory."""
    seen = 0
    while error is not None and seen < 20:
        if isinstance(error, torch.OutOfMemoryError):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def _is_compiler_error(error: BaseException) -> bool:
    from torch._dynamo.exc import TorchDynamoException

    return isinstance(error, TorchDynamoException)


def _first_line(error: BaseException) -> str:
    text = (str(error).strip().splitlines() or [""])[0][:240]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
