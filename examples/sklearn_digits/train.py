"""A support-vector classifier of scikit-learn on its bundled 8x8 digits, tuned by the
workflow (docs/own-model.md): `fit` is called once per trial and fold.

The workflow owns the data: it holds out the test set, splits the rest into folds and passes
each fold's arrays as `data` (images scaled to [0, 1], labels 0..9). `params` holds the
trial's values of the searched C and gamma; `seed` is the fold's own (an SVC draws random
numbers only for probability estimates, but seeding every generator from it is what keeps
reruns exact). The validation accuracy it returns is maximised (config.yaml).
"""

from sklearn.svm import SVC


def fit(params, data, seed):
    # The classifier reads vectors: each 8x8 image as 64 features.
    x_train = data.x_train.reshape(len(data.x_train), -1)
    x_val = data.x_val.reshape(len(data.x_val), -1)
    model = SVC(C=params["C"], gamma=params["gamma"], random_state=seed)
    model.fit(x_train, data.y_train)
    return {"accuracy": model.score(x_val, data.y_val)}
