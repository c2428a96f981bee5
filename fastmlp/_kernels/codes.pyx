"""The codes by which the compiled loops name activations, losses and accuracies.

The numbers are defined once, in csrc/elementwise.h; this module maps Keras's names onto them
and is the one place the engine and the test hooks look them up or check them.
"""
from fastmlp._kernels.elementwise cimport *
from fastmlp._kernels.regularizers cimport FM_CONSTRAINT_NONE, FM_MAX_NORM, FM_NON_NEG, FM_UNIT_NORM

ACTIVATION_CODES = {"linear": FM_LINEAR, "relu": FM_RELU, "sigmoid": FM_SIGMOID,
                    "tanh": FM_TANH, "softmax": FM_SOFTMAX, "leaky_relu": FM_LEAKY_RELU,
                    "elu": FM_ELU, "selu": FM_SELU, "gelu": FM_GELU, "softplus": FM_SOFTPLUS,
                    "softsign": FM_SOFTSIGN, "silu": FM_SILU, "hard_sigmoid": FM_HARD_SIGMOID,
                    "exponential": FM_EXPONENTIAL}
# The parameter of the activations that take one, as Keras's functions default it
# (keras.activations.leaky_relu(x, negative_slope=0.2), elu(x, alpha=1.0)).
DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}
LOSS_CODES = {"sparse_categorical_crossentropy": FM_SPARSE_XENT,
              "categorical_crossentropy": FM_XENT, "binary_crossentropy": FM_BINARY_XENT,
              "mean_squared_error": FM_MSE, "mean_absolute_error": FM_MAE}
# The metrics the compiled loops compute (the accuracies among them), by Keras's names.
ACCURACY_CODES = {None: FM_ACC_NONE, "sparse_categorical_accuracy": FM_ACC_SPARSE,
                  "categorical_accuracy": FM_ACC_CATEGORICAL, "binary_accuracy": FM_ACC_BINARY,
                  "mean_squared_error": FM_METRIC_MSE, "mean_absolute_error": FM_METRIC_MAE,
                  "top_k_categorical_accuracy": FM_TOP_K,
                  "sparse_top_k_categorical_accuracy": FM_SPARSE_TOP_K}
MAX_METRICS = 8

# Weight constraints (csrc/constraints.h), by Keras's names.
CONSTRAINT_CODES = {None: FM_CONSTRAINT_NONE, "max_norm": FM_MAX_NORM, "non_neg": FM_NON_NEG,
                    "unit_norm": FM_UNIT_NORM}

# The loss read from class labels (int32, one per row); every other loss reads targets.
SPARSE_LOSS = FM_SPARSE_XENT


def _check(value, codes, what):
    if isinstance(value, bool) or not isinstance(value, int) or value not in codes.values():
        named = {code: name for name, code in codes.items()}
        raise ValueError(f"unknown {what} code {value!r}; expected one of {named}")
    return value


def check_activation(code) -> int:
    """code, if it names an activation of csrc/elementwise.h; else ValueError."""
    return _check(code, ACTIVATION_CODES, "activation")


def check_alpha(int act, double alpha) -> float:
    """alpha, if it is a parameter the activation's kernels handle (a leaky ReLU's slope >= 0,
    an ELU's alpha > 0: their backward passes read the sign of the output); else ValueError."""
    if act == FM_LEAKY_RELU and not alpha >= 0:
        raise ValueError(f"a leaky ReLU's negative_slope must be >= 0; received {alpha}")
    if act == FM_ELU and not alpha > 0:
        raise ValueError(f"an ELU's alpha must be > 0; received {alpha}")
    if not alpha == alpha or alpha in (float("inf"), float("-inf")):
        raise ValueError(f"an activation's parameter must be finite; received {alpha}")
    return alpha


def needs_pre(int act) -> bool:
    """Whether the activation's backward pass reads its input (GELU, SiLU), not its output."""
    return bool(fm_act_needs_pre(act))


def check_loss(code) -> int:
    """code, if it names a loss; else ValueError."""
    return _check(code, LOSS_CODES, "loss")


def check_accuracy(code) -> int:
    """code, if it names an accuracy kind (0: none); else ValueError."""
    return _check(code, ACCURACY_CODES, "accuracy")


def fuses(int loss, int last_activation) -> bool:
    """Whether the output activation folds into the loss gradient, (p − y)/N: softmax with
    (sparse) categorical cross-entropy, sigmoid with binary cross-entropy."""
    return ((loss in (FM_SPARSE_XENT, FM_XENT) and last_activation == FM_SOFTMAX)
            or (loss == FM_BINARY_XENT and last_activation == FM_SIGMOID))


def needs(int loss, accuracy, Py_ssize_t n_outputs):
    """Whether y must be class labels (else targets like the output) for this loss and these
    metric codes (one, or a sequence)."""
    labels = loss == FM_SPARSE_XENT
    for kind in ([accuracy] if isinstance(accuracy, int) else accuracy):
        if kind in (FM_ACC_SPARSE, FM_SPARSE_TOP_K) and not labels:
            raise ValueError("sparse_categorical_accuracy and sparse_top_k_categorical_accuracy "
                             "need class labels, and so a sparse loss")
        if kind in (FM_ACC_CATEGORICAL, FM_TOP_K) and labels:
            raise ValueError("categorical_accuracy and top_k_categorical_accuracy need one-hot "
                             "targets, not class labels")
        if kind in (FM_METRIC_MSE, FM_METRIC_MAE) and labels:
            raise ValueError("mean squared and absolute error metrics need targets like the "
                             "output, not class labels")
        if kind == FM_ACC_BINARY and labels and n_outputs != 1:
            raise ValueError("binary_accuracy from class labels needs a one-unit output")
    return labels


def check_metrics(metrics):
    """A sequence of (metric code, k) pairs, checked (k: top-k's, ≥ 1; ignored by the others)."""
    pairs = [(m, 5) if isinstance(m, int) else tuple(m) for m in metrics]
    if len(pairs) > MAX_METRICS:
        raise ValueError(f"at most {MAX_METRICS} metrics; received {len(pairs)}")
    for code, k in pairs:
        check_accuracy(code)
        if code == FM_ACC_NONE:
            raise ValueError("a metric code of 0 (none) in a list of metrics")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"top-k metrics need k >= 1; received k={k!r}")
    return pairs


_SIMD_NAMES = {3: "x86-64-v3 (AVX2, FMA)", 1: "x86-64 baseline",
               0: "the compiler's default target (no run-time clones)"}


def simd_level() -> str:
    """Which clone of the elementwise loops runs on this CPU (chosen at run time, not by the
    machine that built fastmlp)."""
    return _SIMD_NAMES[fm_simd_level()]
