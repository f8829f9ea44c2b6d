"""What pictures say about how they were made, and the names other tools give things.

png_text (our JSON and A1111's `parameters` in PNG text chunks), a1111 (the `parameters` text both
ways), comfyui (its prompt and workflow graphs), picture_info (any picture: ours, A1111/Forge,
ComfyUI, EXIF), hashes (A1111's model and LoRA hashes). Pure: no torch, no gradio.
"""
