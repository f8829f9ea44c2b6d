"""Beyond one engine: the pool of engines behind one window (`--gpus`), and grid jobs (A1111's X/Y/Z plot)."""
