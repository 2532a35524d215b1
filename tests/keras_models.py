"""Build, train and save tiny Keras text RNNs for tests/test_keras_import.py, in a process of its own.

Run as `python tests/keras_models.py OUTDIR`: keras (on its torch backend) is imported here
only, never in the test process, so the importer's claim to need neither keras nor tensorflow
is tested where it matters. Writes NAME.keras and NAME.h5 for every supported architecture,
with what Keras' own model.predict gives for each test text (cases.json), and refused
architectures (refused/NAME.keras, with the layer the refusal must name).
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers as L  # noqa: E402

WORDS = ["the", "film", "was", "great", "awful", "plot", "dull", "superb", "a", "bit"]
VOCAB = {w: i + 1 for i, w in enumerate(WORDS)}  # Tokenizer.word_index style: 0 is padding
TEXTS = ["the film was great", "a dull plot", "superb", "the plot was a bit awful dull"]
OOV_TEXT, OOV_IDS = "the zzz film", [1, 10, 2]  # with "bit" (id 10) declared the out-of-vocabulary token
PUNCT_TEXTS = ["The film, was GREAT!", "a dull-plot... (superb?)", "the plot: a bit awful; dull\tfilm"]


def text_to_word_sequence(input_text, filters='!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n', lower=True, split=" "):
    """keras.preprocessing.text.text_to_word_sequence (Keras 2.x), which Keras 3 no longer ships."""
    if lower:
        input_text = input_text.lower()
    translate_map = str.maketrans({c: split for c in filters})
    seq = input_text.translate(translate_map).split(split)
    return [i for i in seq if i]


def chain(*hidden, mask=True):
    """Sequential: Input -> Embedding -> the given layers."""
    return keras.Sequential([keras.Input((None,), dtype="int32"), L.Embedding(len(WORDS) + 1, 5, mask_zero=mask),
                             *hidden])


def functional_stacked_bigru():
    ids = keras.Input((None,), dtype="int32", name="ids")
    x = L.Embedding(len(WORDS) + 1, 6, mask_zero=True, name="emb")(ids)
    x = L.Bidirectional(L.GRU(5, return_sequences=True), name="first")(x)
    x = L.Bidirectional(L.GRU(3, return_sequences=True), name="second")(x)
    x = L.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(ids, L.Dense(1, activation="sigmoid", name="out")(x))


SUPPORTED = {
    "lstm-last-softmax": lambda: chain(L.LSTM(6), L.Dense(3, activation="softmax")),
    "bilstm-max-sigmoid": lambda: chain(L.Bidirectional(L.LSTM(5, return_sequences=True)), L.GlobalMaxPooling1D(),
                                        L.Dropout(0.3), L.Dense(1, activation="sigmoid"), mask=False),
    "gru-mean-softmax": lambda: chain(L.GRU(6, return_sequences=True), L.GlobalAveragePooling1D(),
                                      L.Dense(3, activation="softmax")),
    "bigru-last-linear": lambda: chain(L.Bidirectional(L.GRU(4)), L.Dense(2)),
    "rnn-max-linear1": lambda: chain(L.SimpleRNN(5, return_sequences=True), L.GlobalMaxPooling1D(), L.Dense(1),
                                     mask=False),
    "birnn-relu-last": lambda: chain(L.Bidirectional(L.SimpleRNN(4, activation="relu")),
                                     L.Dense(3, activation="softmax")),
    "stacked-lstm-8-4": lambda: chain(L.LSTM(8, return_sequences=True), L.LSTM(4), L.Dropout(0.2),
                                      L.Dense(2, activation="softmax")),
    "functional-bigru-5-3": functional_stacked_bigru,
    "lstm-dense-relu-softmax": lambda: chain(L.LSTM(6), L.Dense(5, activation="relu"), L.Dropout(0.2),
                                             L.Dense(3, activation="softmax")),
    "gru-then-simplernn": lambda: chain(L.GRU(6, return_sequences=True), L.SimpleRNN(4), L.Dense(3, activation="softmax")),
    "lstm-gru-lstm-mean": lambda: chain(L.LSTM(5, return_sequences=True), L.GRU(5, return_sequences=True),
                                        L.LSTM(3, return_sequences=True), L.GlobalAveragePooling1D(), L.Dense(2)),
    "gru-max-tanh-linear-sigmoid": lambda: chain(L.GRU(5, return_sequences=True), L.GlobalMaxPooling1D(),
                                                 L.Dense(4, activation="tanh"), L.Dense(3), L.Dense(1, activation="sigmoid"),
                                                 mask=False),
}
CHARS = sorted(set("".join(TEXTS)))  # keras.io's text generation: chars = sorted(set(text)), char_indices


def one_hot_lstm():
    """keras.io's character LSTM: one-hot characters (no Embedding) into an LSTM, softmax over the characters."""
    return keras.Sequential([keras.Input((None, len(CHARS))), L.LSTM(8), L.Dense(len(CHARS), activation="softmax")])


def one_hot(text):
    x = np.zeros((1, len(text), len(CHARS)), np.float32)
    for t, c in enumerate(text):
        x[0, t, CHARS.index(c)] = 1
    return x

# Taggers: the last recurrent layer returns sequences into a per-step Dense (one label per token).
TAGGERS = {
    "bilstm-timedistributed-softmax": lambda: chain(L.Bidirectional(L.LSTM(5, return_sequences=True)),
                                                    L.TimeDistributed(L.Dense(4, activation="softmax"))),
    "gru-dense-linear": lambda: chain(L.GRU(4, return_sequences=True), L.Dropout(0.1), L.Dense(3)),
    "stacked-bigru-timedistributed": lambda: chain(L.Bidirectional(L.GRU(5, return_sequences=True)),
                                                   L.Bidirectional(L.GRU(3, return_sequences=True)),
                                                   L.TimeDistributed(L.Dense(3, activation="softmax"))),
}

REFUSED = {  # name -> (model, the layer named in the refusal)
    "gru-reset-before": (lambda: chain(L.GRU(4, reset_after=False, name="old_gru"), L.Dense(2)), "old_gru"),
    "hard-sigmoid": (lambda: chain(L.LSTM(4, recurrent_activation="hard_sigmoid", name="hs"), L.Dense(2)), "hs"),
    "merge-sum": (lambda: chain(L.Bidirectional(L.LSTM(4), merge_mode="sum", name="bisum"), L.Dense(2)), "bisum"),
    "conv": (lambda: chain(L.Conv1D(4, 3, name="conv"), L.GlobalMaxPooling1D(), L.Dense(2), mask=False), "conv"),
    "multi-label": (lambda: chain(L.LSTM(4), L.Dense(3, activation="sigmoid", name="tags")), "tags"),
    "per-step-not-dense": (lambda: chain(L.LSTM(4, return_sequences=True),
                                         L.TimeDistributed(L.Dropout(0.1), name="td"), L.Dense(2)), "td"),
    "mixed-directions": (lambda: chain(L.LSTM(4, return_sequences=True), L.Bidirectional(L.GRU(4), name="then_bi"),
                                       L.Dense(2)), "then_bi"),
    "hidden-gelu": (lambda: chain(L.LSTM(4), L.Dense(3, activation="gelu", name="mid"), L.Dense(2)), "mid"),
}


def outputs_as_probabilities(model, y):
    """What the imported classifier's softmax must equal: Keras' outputs as class probabilities."""
    dense = model.layers[-1]
    activation = dense.get_config()["activation"]
    if y.shape[-1] == 1:  # one unit: sigmoid output, or a logit
        p = y[:, 0] if activation == "sigmoid" else 1 / (1 + np.exp(-y[:, 0].astype(np.float64)))
        return np.stack([1 - p, p], axis=-1)
    if activation == "linear":
        e = np.exp(y - y.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    return y


def main(out):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(1, len(WORDS) + 1, (32, 6))
    cases = {}
    for name, build in SUPPORTED.items():
        model = build()
        units = model.layers[-1].get_config()["units"]
        y = rng.integers(0, 2, (32, 1)) if units == 1 else rng.integers(0, units, (32,))
        loss = "binary_crossentropy" if units == 1 else "sparse_categorical_crossentropy"
        if model.layers[-1].get_config()["activation"] == "linear":
            loss = keras.losses.BinaryCrossentropy(from_logits=True) if units == 1 else \
                keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(keras.optimizers.Adam(0.05), loss)
        model.fit(x, y, epochs=3, batch_size=8, verbose=0)  # really trained: weights move off their init
        model.save(os.path.join(out, f"{name}.keras"))
        model.save(os.path.join(out, f"{name}.h5"))
        probabilities = []
        for text in TEXTS:  # one text at a time, unpadded, as saliency runs them
            ids = np.array([[VOCAB.get(w, 0) for w in text.split() if w in VOCAB]])
            y_text = np.asarray(model.predict(ids, verbose=0))
            probabilities.append(outputs_as_probabilities(model, y_text)[0].tolist())
        oov = outputs_as_probabilities(model, np.asarray(model.predict(np.array([OOV_IDS]), verbose=0)))[0]
        cases[name] = {"probabilities": probabilities, "outputs": len(probabilities[0]), "oov": oov.tolist()}
        punct = []  # texts with punctuation, as a Tokenizer(filters=default) turns them into ids
        for text in PUNCT_TEXTS:
            ids = np.array([[VOCAB[w] for w in text_to_word_sequence(text)]])
            punct.append(outputs_as_probabilities(model, np.asarray(model.predict(ids, verbose=0)))[0].tolist())
        cases[name]["punct"] = punct
        dropped = np.array([[VOCAB[w] for w in OOV_TEXT.split() if w in VOCAB]])  # texts_to_sequences, no oov_token
        cases[name]["dropped"] = outputs_as_probabilities(model, np.asarray(model.predict(dropped, verbose=0)))[0].tolist()
    model = one_hot_lstm()
    xs = np.eye(len(CHARS), dtype=np.float32)[rng.integers(0, len(CHARS), (32, 6))]
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    model.fit(xs, rng.integers(0, len(CHARS), (32,)), epochs=3, batch_size=8, verbose=0)
    model.save(os.path.join(out, "one-hot-lstm.keras"))
    model.save(os.path.join(out, "one-hot-lstm.h5"))
    with open(os.path.join(out, "chars.json"), "w") as f:
        json.dump(CHARS, f)
    cases["one-hot-lstm"] = {"probabilities": [np.asarray(model.predict(one_hot(t), verbose=0))[0].tolist()
                                               for t in TEXTS]}
    taggers = {}
    for name, build in TAGGERS.items():
        model = build()
        units = model.layers[-1].get_config().get("units") or model.layers[-1].get_config()["layer"]["config"]["units"]
        linear = name.endswith("linear")
        model.compile(keras.optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=linear))
        model.fit(x, rng.integers(0, units, (32, 6)), epochs=3, batch_size=8, verbose=0)
        model.save(os.path.join(out, f"{name}.keras"))
        model.save(os.path.join(out, f"{name}.h5"))
        per_text = []
        for text in TEXTS:  # (T, C) per text: every position's tag probabilities
            ids = np.array([[VOCAB[w] for w in text.split() if w in VOCAB]])
            y_text = np.asarray(model.predict(ids, verbose=0), np.float64)[0]
            if linear:
                y_text = np.exp(y_text - y_text.max(-1, keepdims=True))
                y_text /= y_text.sum(-1, keepdims=True)
            per_text.append(y_text.tolist())
        taggers[name] = {"probabilities": per_text, "outputs": units}
    os.makedirs(os.path.join(out, "refused"), exist_ok=True)
    refused = {}
    for name, (build, layer) in REFUSED.items():
        model = build()
        model.build((None, None))
        model.save(os.path.join(out, "refused", f"{name}.keras"))
        refused[name] = layer
    chain(L.LSTM(4), L.Dense(2)).save_weights(os.path.join(out, "refused", "weights-only.weights.h5"))
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"texts": TEXTS, "oov_text": OOV_TEXT, "punct_texts": PUNCT_TEXTS, "vocab": VOCAB, "supported": cases,
                   "taggers": taggers, "refused": refused,
                   "keras_version": keras.__version__}, f)


if __name__ == "__main__":
    main(sys.argv[1])
