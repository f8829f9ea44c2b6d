"""Authorship: what the artist did to make a picture, told from the version tree, and signed (C2PA).

`lineage` reads the chain of nodes that led to a picture and measures each human act from the saved
inputs; `report` tells it in plain words (JSON and a self-contained page); `credentials` embeds it in
an exported picture as a signed C2PA manifest and verifies any picture's credentials.
"""
