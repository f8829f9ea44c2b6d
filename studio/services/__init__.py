"""App-wide services, built once in launch.py and used by every session: models, presets, LoRAs, maps, authorship."""
