"""HeadRot: turn the head in a face photo by walking straight lines in a DDIM latent space
(Asperti, Colasuonno, Guerra, "Head Rotation in Denoising Diffusion Models", 2023)."""
__version__ = "0.1.0"


def __getattr__(name: str):
    """``from headrot_core import HeadRotator`` without importing torch for every CLI call."""
    if name in ("HeadRotator", "RotationResult"):
        from . import rotation

        return getattr(rotation, name)
    raise AttributeError(f"module 'headrot_core' has no attribute {name!r}")
