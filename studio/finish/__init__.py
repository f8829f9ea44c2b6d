"""Finishing a picked picture: fixing regions (faces, hands), upscaling, outpainting. Pure: no torch."""
