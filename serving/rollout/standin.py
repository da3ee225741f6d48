"""A local HTTP server standing in for the Kubernetes API server's custom-objects endpoints
(InferenceServices), for the tests and for `make loop` (which has no cluster). It records every
request (method, path, Content-Type, body) and keeps the objects, applying JSON merge patches
(RFC 7386) as the API server does, with resourceVersion conflicts (409) and 404s, so tests
assert on the real request bodies and the resulting object.

`controller`, when set, stands in for KServe's controller: it is called with the stored object
after each create or patch and may write its status (or a Deployment, for RawDeployment), as
the controller would; `put_object` stores any kind (a Deployment under apps/v1)."""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_PATH = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/?]+))?$"
)


@dataclass
class Recorded:
    method: str
    path: str  # without the query
    content_type: str
    body: dict | None
    query: dict[str, list[str]] = field(default_factory=dict)


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class FakeKubernetes:
    def __init__(self):
        self.requests: list[Recorded] = []
        self.objects: dict[tuple[str, str], dict] = {}
        self._rv = 100
        self._lock = threading.Lock()
        self.controller: Callable[[dict], None] | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                url = urlsplit(self.path)
                fake.requests.append(
                    Recorded(self.command, url.path, self.headers.get("Content-Type", ""), body, parse_qs(url.query))
                )
                status, payload = fake.respond(self.command, self.path, self.headers.get("Content-Type", ""), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def put_object(self, obj: dict) -> None:
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self.objects[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj

    def _reconcile(self, obj: dict) -> None:
        if self.controller is not None:
            self.controller(obj)  # mutates the stored object in place, like a status update

    def bump(self, namespace: str, name: str) -> None:
        """Someone else changed the object (for conflict tests)."""
        self.objects[(namespace, name)]["metadata"]["resourceVersion"] = self._next_rv()

    @staticmethod
    def _status(code: int, reason: str, message: str):
        return code, {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "reason": reason,
            "message": message,
            "code": code,
        }

    def respond(self, method: str, path: str, content_type: str, body):
        m = _PATH.match(path.split("?")[0])
        if not m:
            return self._status(404, "NotFound", f"no route {path}")
        key = (m["ns"], m["name"])
        with self._lock:
            if method == "GET" and m["name"]:
                if key not in self.objects:
                    return self._status(404, "NotFound", f'{m["plural"]} "{m["name"]}" not found')
                return 200, self.objects[key]
            if method == "POST" and not m["name"]:
                key = (m["ns"], body["metadata"]["name"])
                if key in self.objects:
                    return self._status(409, "AlreadyExists", "already exists")
                obj = copy.deepcopy(body)
                obj["metadata"]["namespace"] = m["ns"]
                obj["metadata"]["resourceVersion"] = self._next_rv()
                self.objects[key] = obj
                self._reconcile(obj)
                return 201, obj
            if method == "PATCH" and m["name"]:
                if content_type.split(";")[0].strip() != "application/merge-patch+json":
                    return self._status(
                        415, "UnsupportedMediaType", f"this fake takes merge patches, got {content_type}"
                    )
                if key not in self.objects:
                    return self._status(404, "NotFound", f'{m["plural"]} "{m["name"]}" not found')
                current = self.objects[key]
                wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
                if wanted_rv is not None and wanted_rv != current["metadata"]["resourceVersion"]:
                    return self._status(
                        409,
                        "Conflict",
                        "the object has been modified; please apply your changes to the latest version and try again",
                    )
                patched = merge_patch(current, body)
                patched["metadata"]["resourceVersion"] = self._next_rv()
                self.objects[key] = patched
                self._reconcile(patched)
                return 200, patched
        return self._status(405, "MethodNotAllowed", f"{method} {path}")

    def kubeconfig(self, path) -> str:
        """Writes a kube config that points the real client at this stand-in; returns its path."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
            "users": [{"name": "test", "user": {"token": "test-token"}}],
        }
        with open(path, "w") as f:
            json.dump(config, f)  # YAML is a superset of JSON: the client reads it as it is
        return str(path)


def serverless_controller(fake: FakeKubernetes) -> None:
    """Plays KServe's controller in Serverless mode for every InferenceService: a change to the
    predictor's spec (not to its canary share or annotations) is a new Knative revision, ready
    at once. Traffic itself is the caller's business (`make loop` routes by canaryTrafficPercent)."""
    revisions: dict[tuple[str, str], tuple[int, str]] = {}

    def reconcile(obj: dict) -> None:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        predictor = {k: v for k, v in obj["spec"]["predictor"].items() if k != "canaryTrafficPercent"}
        spec = json.dumps(predictor, sort_keys=True)
        n, seen = revisions.get(key, (0, ""))
        if spec != seen:
            n += 1
            revisions[key] = (n, spec)
        revision = f"{key[1]}-predictor-{n:05d}"
        obj["status"] = {
            "deploymentMode": "Serverless",
            "components": {"predictor": {"latestCreatedRevision": revision, "latestReadyRevision": revision}},
            "conditions": [{"type": "PredictorReady", "status": "True"}, {"type": "Ready", "status": "True"}],
        }

    fake.controller = reconcile
