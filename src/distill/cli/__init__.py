"""The wiring layer: the only code that reads Hydra configs and builds objects from them.

Everything else under ``distill`` takes typed arguments. ``train.py`` and ``pipeline.py`` at
the repository root (and the ``distill-*`` console scripts) call into here.
"""
