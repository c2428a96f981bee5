"""The engines compared, behind one small interface: build a workload, train one epoch, and
name the inference calls a user would make."""
import importlib.util
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

import numpy as np

from fastmlp.bench.numpy_mlp import NumpyMLP
from fastmlp.bench.workloads import Workload


class Competitor:
    """Base: `missing()` says why it cannot run here (None when it can)."""
    name = "?"
    trains = True

    def __init__(self, threads: int) -> None:
        self.threads = threads

    @staticmethod
    def missing() -> Optional[str]:
        return None

    def version(self) -> str:
        return ""

    def build(self, workload: Workload, seed: int = 0) -> None:
        raise NotImplementedError

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        raise NotImplementedError

    def inference_modes(self) -> dict[str, Callable[[np.ndarray], object]]:
        raise NotImplementedError


class _KerasAPI(Competitor):
    """An engine behind the Keras API (`self.api`: fastmlp or keras): the same code builds,
    compiles and trains both."""
    api: Any = None

    def build(self, workload: Workload, seed: int = 0) -> None:
        keras = self.api
        keras.utils.set_random_seed(seed)
        layers = [keras.Input(shape=(784,))]
        layers += [keras.layers.Dense(u, activation="relu") for u in workload.hidden]
        layers += [keras.layers.Dense(10, activation="softmax")]
        self.model = keras.Sequential(layers)
        self.model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        self.model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)


class Fastmlp(_KerasAPI):
    name = "fastmlp"

    def __init__(self, threads: int) -> None:
        super().__init__(threads)
        import fastmlp
        self.api = fastmlp
        # a large predict call splits across fastmlp's own threads: as many as this run's
        fastmlp.config.set_num_threads(threads)

    def version(self) -> str:
        return str(self.api.__version__)

    def build(self, workload: Workload, seed: int = 0) -> None:
        super().build(workload, seed)
        self.workload = workload
        self.copies: list[Fastmlp] = []

    def one_thread_epochs(self, x: np.ndarray, y: np.ndarray, batch_size: int,
                          at_once: int) -> float:
        """Seconds `at_once` one-thread epochs over x take side by side: this model's on the
        calling thread, and copies' (the same workload, other seeds; built on first use) each
        on a thread of its own. At 1: one thread's epoch, beside this worker's threads' in the
        same round; at this worker's thread count: the most that many threads could give on
        this machine in that round (the work shares nothing)."""
        config = self.api.config
        config.set_num_threads(1)
        try:
            while len(self.copies) < at_once - 1:
                copy = Fastmlp(1)
                copy.build(self.workload, seed=1 + len(self.copies))
                self.copies.append(copy)
            with ThreadPoolExecutor(max(1, at_once - 1)) as pool:
                start = time.perf_counter()
                others = [pool.submit(c.train_epoch, x, y, batch_size)
                          for c in self.copies[:at_once - 1]]
                self.train_epoch(x, y, batch_size)
                for other in others:
                    other.result()
                return time.perf_counter() - start
        finally:
            config.set_num_threads(self.threads)

    def inference_modes(self) -> dict[str, Callable[[np.ndarray], object]]:
        m = self.model
        return {"predict_on_batch": m.predict_on_batch, "model(x)": m,
                "predict": lambda x: m.predict(x, batch_size=len(x), verbose=0)}

    def gemm_ceiling(self, batch_size: int, steps: int, at_once: bool = False) -> None:
        """Runs only the GEMMs of `steps` training steps (the ceiling); at_once: a team's
        threads run their shares at the same time, meeting once a step (else one share runs
        alone, as if the others cost nothing)."""
        # with the model's update rule: it decides whether two threads train as a unit team
        self.model.engine.gemm_steps(batch_size, steps, self.model._training_rule("the ceiling"),
                                     at_once)


class Numpy(Competitor):
    name = "numpy"

    def version(self) -> str:
        return str(np.__version__)

    def build(self, workload: Workload, seed: int = 0) -> None:
        self.mlp = NumpyMLP(workload.sizes, seed)
        self.rng = np.random.default_rng(seed)

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        self.mlp.train_epoch(x, y, batch_size, self.rng)

    def inference_modes(self) -> dict[str, Callable[[np.ndarray], object]]:
        return {"forward": self.mlp.forward}


class Keras(_KerasAPI):
    name = "keras"

    @staticmethod
    def missing() -> Optional[str]:
        if importlib.util.find_spec("keras") is None or importlib.util.find_spec("tensorflow") is None:
            return "not installed (pip install keras tensorflow-cpu)"
        return None

    def __init__(self, threads: int) -> None:
        super().__init__(threads)
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        try:  # only possible before TensorFlow's first op; the worker process is fresh
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            pass
        import keras
        self.api = keras

    def version(self) -> str:
        import tensorflow as tf
        return f"{self.api.__version__} (TensorFlow {tf.__version__})"

    def inference_modes(self) -> dict[str, Callable[[np.ndarray], object]]:
        m = self.model
        return {"predict_on_batch": m.predict_on_batch,
                "model(x)": lambda x: m(x, training=False).numpy(),
                "predict": lambda x: m.predict(x, batch_size=len(x), verbose=0)}


class Torch(Competitor):
    name = "pytorch"

    @staticmethod
    def missing() -> Optional[str]:
        return None if importlib.util.find_spec("torch") else "not installed (optional)"

    def __init__(self, threads: int) -> None:
        super().__init__(threads)
        import torch
        torch.set_num_threads(threads)
        self.torch = torch

    def version(self) -> str:
        return str(self.torch.__version__)

    def build(self, workload: Workload, seed: int = 0) -> None:
        torch = self.torch
        torch.manual_seed(seed)
        mods = []
        for a, b in zip(workload.sizes, workload.sizes[1:]):
            mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*mods[:-1])  # logits; the loss applies log-softmax
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, eps=1e-7)
        self.loss = torch.nn.CrossEntropyLoss()

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        torch = self.torch
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        order = torch.randperm(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            self.opt.zero_grad(set_to_none=True)
            self.loss(self.model(xt[idx]), yt[idx]).backward()
            self.opt.step()

    def inference_modes(self) -> dict[str, Callable[[np.ndarray], object]]:
        torch = self.torch
        def call(x: np.ndarray) -> object:
            with torch.inference_mode():
                return torch.softmax(self.model(torch.from_numpy(x)), dim=1).numpy()
        return {"model(x)": call}


class ScikitLearn(Competitor):
    """MLPClassifier with solver='adam' (Keras's Adam defaults but epsilon 1e-8), float32 data."""
    name = "scikit-learn"

    @staticmethod
    def missing() -> Optional[str]:
        return None if importlib.util.find_spec("sklearn") else "not installed (optional)"

    def version(self) -> str:
        import sklearn
        return str(sklearn.__version__)

    def build(self, workload: Workload, seed: int = 0) -> None:
        from sklearn.neural_network import MLPClassifier
        self.workload = workload
        self.seed = seed
        self.model: Any = None  # an MLPClassifier once a batch size is known
        self.classes = np.arange(10)
        self._make: Callable[[int], Any] = lambda batch: MLPClassifier(hidden_layer_sizes=tuple(workload.hidden), solver="adam",
                                                 batch_size=batch, learning_rate_init=1e-3, shuffle=True,
                                                 random_state=seed)

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        if self.model is None or self.model.batch_size != batch_size:
            self.model = self._make(batch_size)
        self.model.partial_fit(x, y, classes=self.classes)  # one shuffled pass over (x, y)

    def inference_modes(self) -> dict[str, Callable[[np.ndarray], object]]:
        if self.model is None:  # inference only: fit one small batch to get weights
            self.model = self._make(32)
            rng = np.random.default_rng(self.seed)
            self.model.partial_fit(rng.random((32, 784), dtype=np.float32), np.arange(32) % 10, classes=self.classes)
        return {"predict_proba": self.model.predict_proba}


class OnnxRuntime(Competitor):
    """Inference only: the same network as an ONNX graph with fastmlp's weights."""
    name = "onnxruntime"
    trains = False

    @staticmethod
    def missing() -> Optional[str]:
        if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
            return "not installed (optional: pip install onnx onnxruntime)"
        return None

    def version(self) -> str:
        import onnxruntime
        return str(onnxruntime.__version__)

    def build(self, workload: Workload, seed: int = 0) -> None:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
        rng = np.random.default_rng(seed)
        nodes, inits, prev = [], [], "x"
        pairs = list(zip(workload.sizes, workload.sizes[1:]))
        for i, (a, b) in enumerate(pairs):
            w = (rng.uniform(-1, 1, (a, b)) * np.sqrt(6 / (a + b))).astype(np.float32)
            inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(np.zeros(b, np.float32), f"b{i}")]
            nodes += [helper.make_node("MatMul", [prev, f"W{i}"], [f"z{i}"]),
                      helper.make_node("Add", [f"z{i}", f"b{i}"], [f"a{i}"])]
            act = "Relu" if i < len(pairs) - 1 else "Softmax"
            node = helper.make_node(act, [f"a{i}"], [f"h{i}"])
            if act == "Softmax":
                node.attribute.append(helper.make_attribute("axis", 1))
            nodes.append(node)
            prev = f"h{i}"
        graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 784])],
                                  [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [None, 10])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self.output = prev

    def inference_modes(self) -> dict[str, Callable[[np.ndarray], object]]:
        return {"run": lambda x: self.session.run([self.output], {"x": x})[0]}


ALL = [Fastmlp, Numpy, Keras, Torch, ScikitLearn, OnnxRuntime]
