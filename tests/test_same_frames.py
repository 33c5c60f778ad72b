"""The engine draws exactly what it drew when its golden file in tests/data/tiny_frames/ was written: a refactor of
the engine must not change a frame. Bit-identical on the tiny random model (fixed seeds), every renderer, with and
without the feedback, the slider's frames_at included. The same torch does other last bits on another CPU (its
kernels sum in another order; bf16 is native on some), which flips a uint8 here and there and moves a landmark
read off a decoding, so the golden frames are kept per arithmetic: one file per digest of the tiny model's own
outputs (``arithmetic``), and a machine with none skips, saying so. Rewrite the files only for an intended change of
output: ``PYTHONPATH=. python tests/test_same_frames.py`` writes this machine's and removes the others', which no
longer hold; with ``--add`` it keeps them (a new kind of machine, the engine unchanged). scripts/same_frames.py does
the same check on the shipped assets."""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

GOLDEN = Path(__file__).parent / "data" / "tiny_frames"  # one <arithmetic>.npz per kind of machine
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


def arithmetic(model) -> str:
    """A digest of this machine's float arithmetic: the tiny model's UNet output on a fixed input, in fp32 and under
    the bf16 autocast the engine uses, before any engine code runs."""
    import torch

    x = torch.linspace(-1.0, 1.0, 3 * model.size ** 2).reshape(1, 3, model.size, model.size)
    digest = hashlib.sha256()
    for bf16 in (False, True):
        model.bf16 = bf16
        with torch.no_grad():
            digest.update(model._eps(x, 499).numpy().tobytes())
    return digest.hexdigest()[:16]


def golden_for(folder: Path) -> Path:
    from headrot_core.diffusion import FaceDiffusion

    return GOLDEN / f"{arithmetic(FaceDiffusion.from_pretrained(folder, device='cpu'))}.npz"


def test_frames_are_bit_identical_to_the_golden_file(tmp_path):
    folder = fresh_folder(tmp_path)
    golden = golden_for(folder)
    if not golden.is_file():
        written = sorted(p.stem for p in GOLDEN.glob("*.npz"))
        pytest.skip(f"no golden frames for this machine's arithmetic ({golden.stem}; written for: {written}): "
                    "PYTHONPATH=. python tests/test_same_frames.py --add, on an unchanged engine, adds them")
    with np.load(golden) as ref:
        now = engine_frames(folder)
        assert sorted(now) == sorted(ref.files)
        for key in ref.files:
            assert np.array_equal(now[key], ref[key]), f"{key}: max |difference| {np.abs(now[key].astype(int) - ref[key]).max()}"


if __name__ == "__main__":  # writes this machine's golden file from the test's own inputs, drops the others'
    import tempfile

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    torch.set_num_threads(2)
    folder = fresh_folder(Path(tempfile.mkdtemp()))
    golden = golden_for(folder)
    frames = engine_frames(folder)
    GOLDEN.mkdir(exist_ok=True)
    if "--add" not in sys.argv:
        for old in GOLDEN.glob("*.npz"):
            old.unlink()
    np.savez_compressed(golden, **frames)
    print(f"wrote {golden}")
