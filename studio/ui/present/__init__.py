"""How things read on screen, one module per part of the window. Pure functions, no gradio."""
