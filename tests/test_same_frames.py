"""The engine draws exactly what it drew when tests/data/tiny_frames.npz was written: a refactor of the engine must
not change a frame. Bit-identical on the tiny random model (fp32, fixed seeds), every renderer, with and without the
feedback, the slider's frames_at included. Rewrite the file only for an intended change of output:
``PYTHONPATH=. python tests/test_same_frames.py`` (scripts/same_frames.py does the same check on the shipped
assets)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

GOLDEN = Path(__file__).parent / "data" / "tiny_frames.npz"
YAWS = (-30.0, -10.0, 0.0, 10.0, 30.0)


def synthetic_crop(size: int = 64) -> Image.Image:
    """A fixed smooth colour pattern: the same input everywhere, no dataset needed."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    arr = np.stack([0.5 + 0.4 * np.sin(6 * xx + 2 * yy), 0.5 + 0.4 * np.cos(5 * yy - xx),
                    0.5 + 0.3 * np.sin(4 * (xx + yy))], -1)
    return Image.fromarray((arr * 255).round().astype(np.uint8))


def engine_frames(folder) -> dict[str, np.ndarray]:
    from headrot_core import HeadRotator
    from headrot_core.rotation import DECODES

    out = {}
    for decode in DECODES:
        for feedback in (False, True):
            rot = HeadRotator.from_pretrained(folder, device="cpu", steps=4, decode=decode, feedback=feedback)
            rot.model.bf16 = False
            r = rot.rotate(synthetic_crop(), yaws=YAWS, aligned=True)
            out[f"{decode}_{'fed' if feedback else 'plain'}"] = np.stack(
                [np.asarray(f) for f in [*r.frames, *rot.frames_at(r, [7.0])]])
    return out


def fresh_folder(parent: Path) -> Path:
    """The tiny rotator folder from a model made here: the session's shared tiny model may be trained by other tests."""
    from conftest import tiny_rotator_folder
    from headrot_core.diffusion import FaceDiffusion

    return tiny_rotator_folder(FaceDiffusion.new(size=32, preset="tiny", device="cpu", seed=0), parent)


def test_frames_are_bit_identical_to_the_golden_file(tmp_path):
    if not GOLDEN.is_file():
        pytest.skip("no golden file yet: python tests/test_same_frames.py")
    with np.load(GOLDEN) as ref:
        now = engine_frames(fresh_folder(tmp_path))
        assert sorted(now) == sorted(ref.files)
        for key in ref.files:
            assert np.array_equal(now[key], ref[key]), f"{key}: max |difference| {np.abs(now[key].astype(int) - ref[key]).max()}"


if __name__ == "__main__":  # writes the golden file from the test's own inputs
    import tempfile

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    torch.set_num_threads(2)
    np.savez_compressed(GOLDEN, **engine_frames(fresh_folder(Path(tempfile.mkdtemp()))))
    print(f"wrote {GOLDEN}")
