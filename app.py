"""HeadRot Gradio app. For now it shows what the embedded default model generates; the rotation UI builds on it."""
from __future__ import annotations

import argparse
import functools

import gradio as gr

from headrot_core.diffusion import DEFAULT_STEPS, FaceDiffusion, tensor_to_images


@functools.lru_cache(maxsize=1)
def get_model() -> FaceDiffusion:
    return FaceDiffusion.from_pretrained()


def sample_faces(n: int, seed: int, steps: int, progress=gr.Progress()):
    progress(0, desc="generating")
    model = get_model()
    images = tensor_to_images(model.sample(int(n), seed=int(seed), steps=int(steps)))
    return [img.resize((256, 256), resample=3) for img in images]  # bicubic upscale for display


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="HeadRot") as demo:
        gr.Markdown("# HeadRot\nFaces sampled by deterministic DDIM from the embedded default model.")
        with gr.Row():
            n = gr.Slider(1, 16, value=8, step=1, label="faces")
            seed = gr.Number(value=0, precision=0, label="seed")
            steps = gr.Slider(5, 50, value=DEFAULT_STEPS, step=5, label="DDIM steps")
        button = gr.Button("Sample", variant="primary")
        gallery = gr.Gallery(label="samples", columns=8, height="auto")
        button.click(sample_faces, [n, seed, steps], gallery, api_name="sample")
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description="HeadRot demo app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args()
    build_demo().queue().launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
