"""sr_core: RCAN x3 super-resolution engine (models, weights, image I/O, tiling, training, evaluation, CLI)."""
