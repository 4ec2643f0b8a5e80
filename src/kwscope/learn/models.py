"""The baseline's classifiers, scikit-learn style (``fit`` / ``predict_proba`` / ``classes_``):
logistic regression (the default) or a small MLP on the standardized clip embeddings, seeded.

``cnn`` (a small 2-D CNN on log-mel spectrograms through PyTorch) is named here so that the
command line can say it is not available in this version rather than fail obscurely.
"""

from __future__ import annotations

from .folds import LearnError

__all__ = ["MODELS", "make_model", "describe_model"]

#: Model names ``kwscope learn --model`` takes.
MODELS = ("logreg", "mlp", "cnn")

_DESCRIPTIONS = {
    "logreg": "logistic regression (C=0.1, L2, lbfgs) on standardized 281-value log-mel embeddings",
    "mlp": "MLP (one hidden layer of 256, alpha=0.01, early stopping) on standardized 281-value log-mel embeddings",
}


def describe_model(name: str) -> str:
    """One line saying what the model is."""
    return _DESCRIPTIONS.get(name, name)


def make_model(name: str, *, seed: int = 0):
    """A fresh, unfitted classifier (a scikit-learn Pipeline: scaler, then the model).

    Raises
    ------
    LearnError
        An unknown name, or ``cnn`` (not available in this version).
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logreg":
        from sklearn.linear_model import LogisticRegression

        return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300, random_state=seed))
    if name == "mlp":
        from sklearn.neural_network import MLPClassifier

        return make_pipeline(StandardScaler(), MLPClassifier((256,), alpha=1e-2, early_stopping=True,
                                                             max_iter=200, random_state=seed))
    if name == "cnn":
        raise LearnError("model='cnn' is not available in this version of kwscope: use logreg or mlp")
    raise LearnError(f"model={name!r} is not one of {', '.join(MODELS)}")
