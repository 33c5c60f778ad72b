"""HeadRot: turn the head in a face photo by walking straight lines in a DDIM latent space
(Asperti, Colasuonno, Guerra, "Head Rotation in Denoising Diffusion Models", 2023)."""
__version__ = "0.1.0"
