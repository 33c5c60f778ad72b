"""HeadRot: turn the head in a face photo by walking straight lines in a DDIM latent space
(Asperti, Colasuonno, Guerra, "Head Rotation in Denoising Diffusion Models", 2023)."""
import os

__version__ = "0.1.0"
# OpenMP threads spin briefly, then sleep (read when torch loads, so set here first). Measured for rotate() on the
# 2-core CPU (docs/APP.md): libgomp's default long spin is fast alone but slow beside another busy process; sleeping
# at once (OMP_WAIT_POLICY=PASSIVE) is slow alone; 3000 spins is as fast as the default alone and in between busy.
os.environ.setdefault("GOMP_SPINCOUNT", "3000")


def __getattr__(name: str):
    """``from headrot_core import HeadRotator`` without importing torch for every CLI call."""
    if name in ("HeadRotator", "RotationResult"):
        from . import rotation

        return getattr(rotation, name)
    raise AttributeError(f"module 'headrot_core' has no attribute {name!r}")
