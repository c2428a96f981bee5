"""Makes tests/data/keras_optimizer_golden.json with real Keras: trajectories of the optimizer
settings fastmlp added after its first release (AMSGrad, AdamW, Nadam, clipping, weight decay,
learning-rate schedules), so CI checks parity without TensorFlow.

Run once, in an environment with Keras 3 and TensorFlow, from the repository root:

    python tests/data/make_keras_optimizer_golden.py

It does not import fastmlp. The start vector and gradients are make_keras_golden's (formulas),
split into two variables of 5 and 7 elements, so that per-variable clipping shows; each case
records both variables after each of 6 apply_gradients steps.
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from make_keras_golden import trajectory_inputs

OUT = Path(__file__).with_name("keras_optimizer_golden.json")
SPLIT = 5

# name -> (optimizer class, kwargs, schedule class or None, schedule kwargs)
CASES = {
    "adam_amsgrad": ("Adam", {"learning_rate": 0.01, "amsgrad": True}, None, None),
    "adamw": ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1}, None, None),
    "nadam": ("Nadam", {"learning_rate": 0.01}, None, None),
    "sgd_clipnorm": ("SGD", {"learning_rate": 0.1, "clipnorm": 0.5}, None, None),
    "sgd_momentum_global_clipnorm": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "global_clipnorm": 0.3}, None, None),
    "rmsprop_clipvalue": ("RMSprop", {"learning_rate": 0.01, "clipvalue": 0.05}, None, None),
    "sgd_weight_decay": ("SGD", {"learning_rate": 0.1, "weight_decay": 0.05}, None, None),
    "adagrad_weight_decay_clipnorm": ("Adagrad", {"learning_rate": 0.05, "weight_decay": 0.2, "clipnorm": 0.1}, None, None),
    "sgd_exponential": ("SGD", {}, "ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5}),
    "sgd_exponential_staircase": ("SGD", {}, "ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5, "staircase": True}),
    "adam_piecewise": ("Adam", {}, "PiecewiseConstantDecay", {"boundaries": [1, 3], "values": [0.1, 0.05, 0.01]}),
    "sgd_cosine": ("SGD", {}, "CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 4, "alpha": 0.1}),
    "sgd_cosine_warmup": ("SGD", {}, "CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 4, "warmup_target": 0.1, "warmup_steps": 2}),
    "adamw_cosine_global_clipnorm": ("AdamW", {"weight_decay": 0.01, "global_clipnorm": 0.2}, "CosineDecay", {"initial_learning_rate": 0.02, "decay_steps": 5}),
    # gradients that shrink after the first step: v decays while AMSGrad's maximum holds
    "adam_amsgrad_shrinking": ("Adam", {"learning_rate": 0.01, "amsgrad": True, "beta_2": 0.9}, None, None),
}
# per-step factors of the gradients (1 where a case has none)
GRAD_SCALES = {"adam_amsgrad_shrinking": [1, 1e-2, 1e-2, 1e-2, 1e-2, 1e-2]}


def main():
    import keras
    w0, grads = trajectory_inputs()
    out = {"keras_version": keras.__version__, "split": SPLIT, "cases": {}}
    for name, (cls, kwargs, schedule, schedule_kwargs) in CASES.items():
        kwargs = dict(kwargs)
        if schedule:
            kwargs["learning_rate"] = getattr(keras.optimizers.schedules, schedule)(**schedule_kwargs)
        opt = getattr(keras.optimizers, cls)(**kwargs)
        variables = [keras.Variable(w0[:SPLIT]), keras.Variable(w0[SPLIT:])]
        path = []
        for g, scale in zip(grads, GRAD_SCALES.get(name, [1] * len(grads))):
            g = (g * np.float32(scale)).astype(np.float32)
            parts = [keras.ops.convert_to_tensor(g[:SPLIT]), keras.ops.convert_to_tensor(g[SPLIT:])]
            opt.apply_gradients(zip(parts, variables))
            path.append([float(x) for v in variables for x in keras.ops.convert_to_numpy(v)])
        out["cases"][name] = {"class": cls, "kwargs": {k: v for k, v in kwargs.items() if k != "learning_rate" or not schedule},
                              "schedule": schedule, "schedule_kwargs": schedule_kwargs, "path": path,
                              "grad_scales": GRAD_SCALES.get(name, [1] * len(grads))}
    OUT.write_text(json.dumps(out, indent=0))


if __name__ == "__main__":
    main()
