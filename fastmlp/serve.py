"""A predict server speaking TensorFlow Serving's REST API, so that clients written for TF
Serving work unchanged:

    fastmlp serve model.fastmlp --port 8000          (or: python -m fastmlp.serve model.fastmlp)

    POST /v1/models/<name>[/versions/<v>]:predict   {"instances": [row, ...]} -> {"predictions": [...]}
                                                    {"inputs": tensor}        -> {"outputs": ...}
    GET  /v1/models/<name>[/versions/<v>]           the model's status

Built on the standard library's ThreadingHTTPServer: no dependency beyond fastmlp's own, a
thread per request, and every request thread calls the one model, whose predict is lock-free.
Bad requests (body over the limit, malformed JSON, wrong shapes, NaN, non-numbers) get a 4xx
answer {"error": "..."}; nothing a client sends can stop the server.
"""
import argparse
import json
import re
import sys
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np

from fastmlp._typing import PathLike

if TYPE_CHECKING:
    from fastmlp.models import Model

DEFAULT_MAX_BODY_BYTES = 16 << 20
_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?P<verb>:predict)?$")


class RequestError(Exception):
    """A client's mistake: answered with `status` and {"error": message}."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _single(value: Any, what: str) -> Any:
    """TF Serving's named-input form {"<input name>": value}: fastmlp models have one input."""
    if isinstance(value, dict):
        if len(value) != 1:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"{what} names {len(value)} inputs "
                               f"{sorted(value)}; this model has one")
        return next(iter(value.values()))
    return value


def parse_request(body: bytes) -> tuple[str, Any]:
    """("instances" or "inputs", the rows) of a predict request body."""
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, 'the body must be a JSON object with "instances" '
                           'or "inputs"')
    keys = {"instances", "inputs"} & set(request)
    if len(keys) != 1:
        raise RequestError(HTTPStatus.BAD_REQUEST, 'the body must have exactly one of "instances" '
                           f'and "inputs"; it has keys {sorted(request)}')
    form = keys.pop()
    if form == "instances":
        rows = request["instances"]
        if not isinstance(rows, list):
            raise RequestError(HTTPStatus.BAD_REQUEST, '"instances" must be a list of rows')
        rows = [_single(row, "an instance") for row in rows]
    else:
        rows = _single(request["inputs"], '"inputs"')
    return form, rows


class ModelServer(ThreadingHTTPServer):
    """Serves one model under `name`; request threads share it.

    Args:
        address: (host, port); port 0 picks a free one.
        model: a fastmlp model (built).
        name: the model's name in the URLs.
        max_body_bytes: larger request bodies get 413 before they are read.
    """
    daemon_threads = True

    def __init__(self, address: tuple[str, int], model: "Model", name: str, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        model._require_built()
        self.model, self.model_name, self.max_body_bytes = model, name, max_body_bytes
        super().__init__(address, _Handler)

    def predict(self, form: str, rows: Any) -> dict[str, Any]:
        """The answer to a parsed predict request."""
        if isinstance(rows, list) and not rows:
            raise RequestError(HTTPStatus.BAD_REQUEST, "the request holds no rows")
        try:
            outputs = self.model.predict_on_batch(rows)
        except (ValueError, TypeError) as exc:
            raise RequestError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        if not np.isfinite(outputs).all():
            raise RequestError(HTTPStatus.BAD_REQUEST, "the outputs for these inputs overflow (not "
                               "finite); scale the inputs")
        values = outputs.tolist()
        return {"predictions": values} if form == "instances" else {"outputs": values}

    def status(self, version: Optional[str]) -> dict[str, Any]:
        return {"model_version_status": [{"version": version or "1", "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer
    protocol_version = "HTTP/1.1"
    server_version = "fastmlp-serve"

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default: a busy server logs nothing per request
        pass

    def _answer(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, allow_nan=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self, want_predict: bool) -> Optional[str]:
        match = _PATH.match(self.path.split("?", 1)[0])
        if not match or match.group("name") != self.server.model_name:
            raise RequestError(HTTPStatus.NOT_FOUND, f"no such path: {self.path}; this server has "
                               f"/v1/models/{self.server.model_name}[:predict]")
        if bool(match.group("verb")) != want_predict:
            raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED,
                               "predict is POST .../models/<name>:predict; status is GET .../models/<name>")
        return match.group("version")

    def _handle(self, method: Callable[[], None]) -> None:
        try:
            method()
        except RequestError as exc:
            self.close_connection = True
            self._answer(exc.status, {"error": str(exc)})
        except Exception as exc:  # a bug of the server's, never the client's: say so, keep serving
            self.close_connection = True
            self._answer(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {type(exc).__name__}: {exc}"})

    def do_GET(self) -> None:
        self._handle(lambda: self._answer(HTTPStatus.OK, self.server.status(self._route(False))))

    def do_POST(self) -> None:
        def predict() -> None:
            self._route(True)
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a predict request needs a Content-Length")
            if int(length) > self.server.max_body_bytes:
                raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                   f"the body has {length} bytes; this server takes at most "
                                   f"{self.server.max_body_bytes}")
            body = self.rfile.read(int(length))
            form, rows = parse_request(body)
            self._answer(HTTPStatus.OK, self.server.predict(form, rows))
        self._handle(predict)

    def _refuse(self) -> None:
        raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED, "use GET or POST")

    def do_PUT(self) -> None:
        self._handle(self._refuse)

    do_DELETE = do_PATCH = do_PUT


def serve(model_path: PathLike, host: str = "127.0.0.1", port: int = 8000, name: Optional[str] = None,
          max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
          ready: Optional[Callable[[ModelServer], object]] = None) -> None:
    """Loads the model file and serves it until interrupted.

    Args:
        model_path: a `.fastmlp`, `.keras` or `.h5` model file.
        host, port: where to listen (port 0: any free port).
        name: the model's name in the URLs (default: the file name without its ending).
        max_body_bytes: the largest request body accepted.
        ready: called with the server once it listens (tests use it).
    """
    from fastmlp import saving
    model = saving.load_model(model_path, compile=False)
    name = name or Path(model_path).name.split(".")[0]
    server = ModelServer((host, port), model, name, max_body_bytes)
    print(f"fastmlp: serving {model_path} as '{name}' on http://{host}:{server.server_address[1]}"
          f"/v1/models/{name}", file=sys.stderr, flush=True)
    if ready:
        ready(server)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="fastmlp serve", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model file (.fastmlp, .keras or .h5)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks one)")
    parser.add_argument("--name", help="model name in the URLs (default: the file's name)")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    args = parser.parse_args(argv)
    try:
        serve(args.model, args.host, args.port, args.name, args.max_body_bytes)
    except (OSError, ValueError, ImportError) as exc:
        print(f"fastmlp serve: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
