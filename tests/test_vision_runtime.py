"""The LiteRT layer: quantisation from the model's own parameters, clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.errors import AgentError, ModelError
from agent.vision.runtime import Model, TensorSpec, dequantise, quantise
from tests.vision_fixtures import requantise_model

pytest.importorskip("ai_edge_litert")


@pytest.fixture
def requantiser(tmp_path: Path) -> Model:
    """int8 (scale 0.05, zero -10) in, uint8 (scale 0.1, zero 100) out."""
    path = tmp_path / "requantise.tflite"
    path.write_bytes(requantise_model(in_scale=0.05, in_zero=-10, out_scale=0.1, out_zero=100))
    return Model(path, num_threads=1)


def test_model_reports_its_tensors_quantisation(requantiser: Model) -> None:
    (source,), (target,) = requantiser.inputs, requantiser.outputs
    assert (source.dtype, source.zero_point) == (np.dtype(np.int8), -10)
    assert source.scale == pytest.approx(0.05)
    assert (target.dtype, target.zero_point) == (np.dtype(np.uint8), 100)
    assert target.scale == pytest.approx(0.1)


def test_real_values_survive_a_quantised_model(requantiser: Model) -> None:
    values = np.array([[-1.0, 0.0, 0.8, 5.0]], dtype=np.float32)
    (result,) = requantiser.run(values)
    assert result.dtype == np.float32
    # Two quantisation steps: the coarser (0.1) bounds the error.
    np.testing.assert_allclose(result, values, atol=0.1)


def test_values_beyond_the_input_range_are_clipped_not_wrapped(requantiser: Model) -> None:
    (result,) = requantiser.run(np.array([[100.0, -100.0, 0.0, 0.0]], dtype=np.float32))
    # int8 saturates at 127 and -128: (127 + 10) * 0.05 and (-128 + 10) * 0.05.
    np.testing.assert_allclose(result[0, :2], [6.9, -5.9], atol=0.1)


def test_input_filled_in_place_takes_the_tensors_own_quantised_values(requantiser: Model) -> None:
    def fill(tensor: np.ndarray) -> None:
        tensor[...] = [[-10, 10, 30, 127]]  # int8 with zero point -10, scale 0.05

    requantiser.fill_input(fill)
    requantiser.invoke()
    (result,) = requantiser.get_outputs()
    np.testing.assert_allclose(result, [[0.0, 1.0, 2.0, 6.85]], atol=0.1)


def test_wrong_input_shape_is_rejected_with_the_expected_shape(requantiser: Model) -> None:
    with pytest.raises(ValueError, match=r"\(1, 4\)"):
        requantiser.run(np.zeros((1, 5), dtype=np.float32))


def test_quantise_and_dequantise_use_scale_and_zero_point() -> None:
    spec = TensorSpec("x", 0, (3,), np.dtype(np.uint8), scale=0.5, zero_point=10)
    quantised = quantise(np.array([0.0, 1.0, -2.0]), spec)
    assert quantised.tolist() == [10, 12, 6]
    assert dequantise(quantised, spec).tolist() == [0.0, 1.0, -2.0]


def test_float_tensors_pass_through_unchanged() -> None:
    spec = TensorSpec("x", 0, (2,), np.dtype(np.float32), scale=0.0, zero_point=0)
    assert quantise(np.array([0.25, -3.0]), spec).tolist() == [0.25, -3.0]


def test_warm_up_invokes_and_times_the_model(requantiser: Model) -> None:
    assert requantiser.warm_up() > 0


def test_missing_model_file_is_a_model_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.tflite"
    with pytest.raises(ModelError, match=r"absent\.tflite is missing.*models fetch"):
        Model(path)


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"TFL3" * 1000])
def test_corrupt_model_file_is_a_model_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "corrupt.tflite"
    path.write_bytes(content)
    with pytest.raises(AgentError, match=r"corrupt\.tflite cannot be loaded"):
        Model(path)


def test_truncated_model_file_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "truncated.tflite"
    whole = requantise_model(in_scale=0.05, in_zero=0, out_scale=0.1, out_zero=0)
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ModelError, match="cannot be loaded"):
        Model(path)
