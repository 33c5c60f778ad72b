"""HeadRot: turn the head in a face photo by walking straight lines in a DDIM latent space
(Asperti, Colasuonno, Guerra, "Head Rotation in Denoising Diffusion Models", 2023)."""
import os

__version__ = "0.1.0"
# Sleeping, not spinning, OpenMP threads: on a shared 2-core CPU a spinning torch thread made one UNet call take
# 5 s instead of 0.03 s while another process held the other core. Only effective before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def __getattr__(name: str):
    """``from headrot_core import HeadRotator`` without importing torch for every CLI call."""
    if name in ("HeadRotator", "RotationResult"):
        from . import rotation

        return getattr(rotation, name)
    raise AttributeError(f"module 'headrot_core' has no attribute {name!r}")
