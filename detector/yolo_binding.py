"""How a batch goes through the ONNX Runtime session: the one place that chooses.

On the CPU, ``session.run`` (today's path: the input array is read where it lies). On a CUDA device
(the CUDA or TensorRT execution provider first in use), through ``session.io_binding()``: the input is
bound once from a C-contiguous host array (ONNX Runtime copies it to the device once), the output is
bound to the device and copied back once after the run — instead of ``run``'s copies of the input
and output through its own staging buffers. :class:`BoundRunner` works on the CPU provider too
(``device="cpu"``), which is how the tests check it against ``session.run`` for real.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

BatchRunner = Callable[[npt.NDArray[Any]], npt.NDArray[Any]]

DEVICE_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


class PlainRunner:
    """``session.run`` on the input: the CPU path."""

    def __init__(self, session: Any, input_name: str) -> None:
        self.session, self.input_name = session, input_name
        self.output_name = session.get_outputs()[0].name

    def __call__(self, batch: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return np.asarray(self.session.run([self.output_name], {self.input_name: batch})[0])


class BoundRunner:
    """``session.run_with_iobinding``: input bound from host memory once, output kept on ``device``
    (``cuda`` or ``cpu``) and copied back once."""

    def __init__(self, session: Any, input_name: str, device: str, device_id: int = 0) -> None:
        self.session, self.input_name = session, input_name
        self.output_name = session.get_outputs()[0].name
        self.device, self.device_id = device, device_id

    def __call__(self, batch: npt.NDArray[Any]) -> npt.NDArray[Any]:
        binding = self.session.io_binding()
        binding.bind_cpu_input(self.input_name, np.ascontiguousarray(batch))
        binding.bind_output(self.output_name, self.device, self.device_id)
        self.session.run_with_iobinding(binding)
        out = binding.copy_outputs_to_cpu()[0]
        binding.clear_binding_inputs()
        binding.clear_binding_outputs()
        return np.asarray(out)


def device_of(session: Any) -> tuple[str, int] | None:
    """(``"cuda"``, device id) when the session's first provider runs on a CUDA device, else None."""
    providers = session.get_providers()
    if not providers or providers[0] not in DEVICE_PROVIDERS:
        return None
    options = session.get_provider_options().get(providers[0], {})
    return "cuda", int(options.get("device_id", 0) or 0)


def batch_runner(session: Any, input_name: str) -> BatchRunner:
    """IO binding when the session runs on a CUDA device, else ``session.run``."""
    device = device_of(session)
    if device is None:
        return PlainRunner(session, input_name)
    return BoundRunner(session, input_name, *device)
