"""The predict server on 127.0.0.1 with real HTTP requests (bounded in count and time): TF
Serving's REST predict and status calls, every kind of bad request (a 4xx with a JSON error,
never a 500), concurrent clients, and the command that starts it."""
import http.client
import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastmlp as keras
from fastmlp.serve import ModelServer


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(4)
    m = keras.Sequential([keras.layers.Flatten(input_shape=(2, 3)),
                          keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(3, activation="softmax")], name="toy")
    return m


@pytest.fixture(scope="module")
def server(model):
    srv = ModelServer(("127.0.0.1", 0), model, "toy", max_body_bytes=4096)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        payload = json.loads(response.read())
        assert response.getheader("Content-Type") == "application/json"
        return response.status, payload
    finally:
        conn.close()


def test_predict_instances_and_inputs(server, model, rng):
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    want = model.predict(x, verbose=0)
    status, answer = request(server, "POST", "/v1/models/toy:predict", {"instances": x.tolist()})
    assert status == 200
    np.testing.assert_array_equal(np.float32(answer["predictions"]), want)
    status, answer = request(server, "POST", "/v1/models/toy/versions/1:predict", {"inputs": x.tolist()})
    assert status == 200
    np.testing.assert_array_equal(np.float32(answer["outputs"]), want)
    # the named-input forms of TF Serving
    status, answer = request(server, "POST", "/v1/models/toy:predict",
                             {"instances": [{"flatten_input": row} for row in x.tolist()]})
    assert status == 200 and len(answer["predictions"]) == 5
    status, answer = request(server, "POST", "/v1/models/toy:predict", {"inputs": {"x": x.tolist()}})
    assert status == 200 and len(answer["outputs"]) == 5


def test_model_status(server):
    status, answer = request(server, "GET", "/v1/models/toy")
    assert status == 200
    assert answer == {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                                "status": {"error_code": "OK", "error_message": ""}}]}


BAD = [
    ("not JSON", "POST", "/v1/models/toy:predict", b"{instances", 400, "not valid JSON"),
    ("not an object", "POST", "/v1/models/toy:predict", b"[1, 2]", 400, "JSON object"),
    ("no rows key", "POST", "/v1/models/toy:predict", {"rows": []}, 400, "exactly one of"),
    ("both keys", "POST", "/v1/models/toy:predict", {"instances": [], "inputs": []}, 400, "exactly one of"),
    ("no rows", "POST", "/v1/models/toy:predict", {"instances": []}, 400, "no rows"),
    ("wrong width", "POST", "/v1/models/toy:predict", {"instances": [[1, 2, 3, 4, 5, 6]]}, 400, r"expects \(batch, 2, 3\)"),
    ("ragged rows", "POST", "/v1/models/toy:predict", {"instances": [[[1, 2, 3], [4, 5, 6]], [[1, 2]]]}, 400, "numeric array"),
    ("strings", "POST", "/v1/models/toy:predict", {"instances": [[["a", "b", "c"], ["d", "e", "f"]]]}, 400, "numbers"),
    ("NaN", "POST", "/v1/models/toy:predict", b'{"instances": [[[NaN, 1, 2], [3, 4, 5]]]}', 400, "NaN or infinity"),
    ("Infinity", "POST", "/v1/models/toy:predict", b'{"instances": [[[1e999, 1, 2], [3, 4, 5]]]}', 400, "NaN or infinity"),
    ("instances not a list", "POST", "/v1/models/toy:predict", {"instances": 3}, 400, "list of rows"),
    ("two named inputs", "POST", "/v1/models/toy:predict", {"inputs": {"a": [1], "b": [2]}}, 400, "names 2 inputs"),
    ("body over the limit", "POST", "/v1/models/toy:predict", {"instances": [[[0.5] * 3] * 2] * 400}, 413, "at most 4096"),
    ("unknown model", "POST", "/v1/models/other:predict", {"instances": []}, 404, "no such path"),
    ("unknown path", "GET", "/v2/whatever", None, 404, "no such path"),
    ("predict with GET", "GET", "/v1/models/toy:predict", None, 405, "POST"),
    ("status with POST", "POST", "/v1/models/toy", {"instances": []}, 405, "GET"),
    ("PUT", "PUT", "/v1/models/toy", b"{}", 405, "GET or POST"),
]


@pytest.mark.parametrize("case", BAD, ids=[case[0] for case in BAD])
def test_bad_requests_get_a_json_error(server, case):
    _, method, path, body, want_status, match = case
    status, answer = request(server, method, path, body)
    assert status == want_status, answer
    assert set(answer) == {"error"}
    import re
    assert re.search(match, answer["error"]), answer["error"]


def test_no_content_length_is_refused(server):
    import socket
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as sock:
        sock.sendall(b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 411") and "Content-Length" in reply


def test_concurrent_clients_get_their_own_answers(server, model, rng):
    inputs = [rng.standard_normal((1 + i % 4, 2, 3)).astype(np.float32) for i in range(64)]

    def ask(x):
        status, answer = request(server, "POST", "/v1/models/toy:predict", {"instances": x.tolist()})
        assert status == 200
        return np.float32(answer["predictions"])
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, inputs))
    for x, got in zip(inputs, answers):
        np.testing.assert_array_equal(got, model.predict(x, verbose=0))
    assert request(server, "GET", "/v1/models/toy")[0] == 200  # still serving


def test_the_command_serves_a_model_file(model, tmp_path, rng):
    path = tmp_path / "toy.fastmlp"
    model.save(path)
    # the with block closes the pipes and reaps the server however the test ends
    with subprocess.Popen([sys.executable, "-m", "fastmlp.serve", str(path), "--port", "0"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path) as proc:
        try:
            line = proc.stderr.readline()
            assert "serving" in line, line + proc.stderr.read()
            port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
            x = rng.standard_normal((2, 2, 3)).astype(np.float32)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/v1/models/toy:predict", body=json.dumps({"instances": x.tolist()}))
            answer = json.loads(conn.getresponse().read())
            conn.close()
            np.testing.assert_allclose(answer["predictions"], model.predict(x, verbose=0), rtol=1e-6)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_the_command_reports_a_missing_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fastmlp.cli", "serve", str(tmp_path / "none.fastmlp")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2 and "No model file" in proc.stderr
