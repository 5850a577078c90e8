"""The one inference surface: load a trained model, give it raw texts, get class probabilities.

    from distill.serving import load
    model = load("logs/pipeline/<time>/export/bilstm_kd")   # or a stage folder
    model.predict(["the shuttle launch slipped a week"])      # -> ["sci.space"]
"""

from distill.serving.predictors import (
    LoadedModel,
    Predictor,
    average,
    cascade,
    from_checkpoint,
    from_onnx,
    from_sklearn,
    load,
)
from distill.preprocessing import Preprocessing

__all__ = ["LoadedModel", "Predictor", "Preprocessing", "average", "cascade", "from_checkpoint", "from_onnx",
           "from_sklearn", "load"]
