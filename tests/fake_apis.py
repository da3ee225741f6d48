"""A local HTTP server standing in for the KFP API server (v2beta1) and Vertex AI's REST
endpoints. It records every request (method, path, query, headers, body) and answers with
the minimal JSON the real clients parse, so tests can assert on the real request bodies."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class FakeApis:
    def __init__(self):
        self.requests: list[Recorded] = []
        self.pipelines: dict[str, str] = {}  # name -> id
        self.vertex_jobs: dict[str, dict] = {}
        self.recurring_runs: dict[str, dict] = {}  # KFP: id -> recurring run
        self.schedules: dict[str, dict] = {}  # Vertex: resource name -> schedule
        self.created = 0  # ids for created resources, never reused
        self.models: dict[str, dict] = {}  # Vertex Model Registry: resource name -> model
        self.model_versions: dict[str, dict[str, dict]] = {}  # resource name -> version id -> model
        self.endpoints: dict[str, dict] = {}  # resource name -> endpoint
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _handle(self):
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(self.command, url.path, parse_qs(url.query), dict(self.headers), body)
                fake.requests.append(rec)
                status, payload = fake.respond(rec)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def find(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    # ------------------------------------------------------------------ responses
    def respond(self, r: Recorded) -> tuple[int, dict]:
        p = r.path
        if p.startswith("/apis/v2beta1/"):
            return self._kfp(r, p[len("/apis/v2beta1/") :])
        if p.startswith("/v1/projects/"):
            return self._vertex(r)
        if r.method == "GET" and (m := re.fullmatch(r"/storage/v1/b/([^/]+)", p)):
            # aiplatform checks the pipeline root's bucket before submitting (STORAGE_EMULATOR_HOST)
            return 200, {"name": m.group(1), "location": "US-CENTRAL1", "projectNumber": "123456789"}
        return 404, {"error": f"no route for {r.method} {p}"}

    def _kfp(self, r: Recorded, p: str) -> tuple[int, dict]:
        if r.method == "GET" and p == "healthz":
            return 200, {"multi_user": False}
        if r.method == "GET" and p == "pipelines":
            flt = json.loads(r.query.get("filter", ["{}"])[0] or "{}")
            names = [pred.get("stringValue", pred.get("string_value")) for pred in flt.get("predicates", [])]
            found = [{"pipeline_id": i, "display_name": n} for n, i in self.pipelines.items() if n in names]
            return 200, {"pipelines": found, "total_size": len(found)}
        if r.method == "POST" and p == "pipelines/upload":
            name = r.query["name"][0]
            self.pipelines[name] = f"pipeline-{len(self.pipelines) + 1}"
            return 200, {"pipeline_id": self.pipelines[name], "display_name": name}
        if r.method == "GET" and (m := re.fullmatch(r"pipelines/([^/]+)/versions", p)):
            return 200, {
                "pipeline_versions": [{"pipeline_id": m.group(1), "pipeline_version_id": "version-1"}],
                "total_size": 1,
            }
        if r.method == "POST" and p == "pipelines/upload_version":
            return 200, {
                "pipeline_id": r.query["pipelineid"][0],
                "pipeline_version_id": "version-2",
                "display_name": r.query["name"][0],
            }
        if r.method == "GET" and p == "experiments":
            return 200, {"experiments": []}
        if r.method == "POST" and p == "experiments":
            return 200, {"experiment_id": "experiment-1", "display_name": json.loads(r.body)["display_name"]}
        if r.method == "POST" and p == "runs":
            return 200, {**json.loads(r.body), "run_id": "run-1", "state": "PENDING"}
        if r.method == "POST" and p == "recurringruns":
            self.created += 1
            run = {**json.loads(r.body), "recurring_run_id": f"recurring-{self.created}", "status": "ENABLED"}
            self.recurring_runs[run["recurring_run_id"]] = run
            return 200, run
        if r.method == "GET" and p == "recurringruns":
            flt = json.loads(r.query.get("filter", ["{}"])[0] or "{}")
            names = [pred.get("stringValue", pred.get("string_value")) for pred in flt.get("predicates", [])]
            experiment = r.query.get("experiment_id", [None])[0]
            found = [
                run
                for run in self.recurring_runs.values()
                if (not names or run["display_name"] in names) and experiment in (None, run["experiment_id"])
            ]
            return 200, {"recurringRuns": found, "total_size": len(found)}
        if r.method == "DELETE" and (m := re.fullmatch(r"recurringruns/([^/]+)", p)):
            if self.recurring_runs.pop(m.group(1), None) is None:
                return 404, {"error": f"no recurring run {m.group(1)}"}
            return 200, {}
        if r.method == "GET" and p == "runs":
            return 200, {
                "runs": [
                    {
                        "run_id": "run-1",
                        "display_name": "nightly-1",
                        "state": "SUCCEEDED",
                        "created_at": "2026-11-22T09:00:00Z",
                        "finished_at": "2026-11-22T09:20:00Z",
                    }
                ]
            }
        return 404, {"error": f"no KFP route for {r.method} {p}"}

    def _vertex(self, r: Recorded) -> tuple[int, dict]:
        if r.method == "POST" and (m := re.fullmatch(r"/v1/(projects/[^/]+/locations/[^/]+)/pipelineJobs", r.path)):
            job_id = r.query.get("pipelineJobId", ["job-1"])[0]
            job = {
                **json.loads(r.body),
                "name": f"{m.group(1)}/pipelineJobs/{job_id}",
                "state": "PIPELINE_STATE_PENDING",
                "createTime": "2026-11-22T09:00:00Z",
            }
            self.vertex_jobs[job["name"]] = job
            return 200, job
        if r.method == "GET" and r.path.startswith("/v1/") and r.path[4:] in self.vertex_jobs:
            return 200, {**self.vertex_jobs[r.path[4:]], "state": "PIPELINE_STATE_SUCCEEDED"}
        if r.method == "POST" and (m := re.fullmatch(r"/v1/(projects/[^/]+/locations/[^/]+)/schedules", r.path)):
            self.created += 1
            schedule = {
                **json.loads(r.body),
                "name": f"{m.group(1)}/schedules/schedule-{self.created}",
                "state": "ACTIVE",
            }
            self.schedules[schedule["name"]] = schedule
            return 200, schedule
        if r.method == "GET" and (m := re.fullmatch(r"/v1/(projects/[^/]+/locations/[^/]+)/schedules", r.path)):
            flt = r.query.get("filter", [""])[0]
            found = [
                s
                for name, s in self.schedules.items()
                if name.startswith(m.group(1) + "/") and (not flt or f'display_name="{s["displayName"]}"' == flt)
            ]
            return 200, {"schedules": found}
        if r.method == "DELETE" and (m := re.fullmatch(r"/v1/(.+/schedules/[^/:]+)", r.path)):
            if self.schedules.pop(m.group(1), None) is None:
                return 404, {"error": {"code": 404, "message": f"no schedule {m.group(1)}", "status": "NOT_FOUND"}}
            return 200, {
                "name": f"{m.group(1)}/operations/delete-1",
                "done": True,
                "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
            }
        loc = r"/v1/(projects/[^/]+/locations/[^/]+)"
        if r.method == "POST" and (m := re.fullmatch(loc + r"/models:upload", r.path)):
            body = json.loads(r.body)
            parent = body.get("parentModel") or f"{m.group(1)}/models/model-1"
            version = str(len(self.find("POST", r".*/models:upload")) + (1 if body.get("parentModel") else 0))
            # What Vertex answers for a model on a custom/prebuilt container.
            self.models[parent] = {
                **body["model"],
                "name": parent,
                "versionId": version,
                "supportedDeploymentResourcesTypes": ["DEDICATED_RESOURCES"],
            }
            self.model_versions.setdefault(parent, {})[version] = self.models[parent]
            return 200, {
                "name": f"{m.group(1)}/operations/upload-{version}",
                "done": True,
                "response": {
                    "@type": "type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse",
                    "model": parent,
                    "modelVersionId": version,
                },
            }
        if r.method == "GET" and re.fullmatch(loc + r"/models", r.path):
            flt = r.query.get("filter", [""])[0]
            found = [m for m in self.models.values() if f'display_name="{m.get("displayName")}"' == flt]
            return 200, {"models": found}
        if r.method == "GET" and (m := re.fullmatch(r"/v1/(.+/models/[^/@]+)(?:@(\w+))?", r.path)):
            name, ref = m.groups()
            if ref is None:
                return 200, self.models[name]
            # A version by its id or one of its aliases, as Vertex resolves MODEL@REF.
            versions = self.model_versions.get(name) or {self.models[name].get("versionId", "1"): self.models[name]}
            for version_id, model in versions.items():
                if ref == version_id or ref in model.get("versionAliases", []):
                    return 200, model
            return 404, {"error": {"code": 404, "message": f"no version {ref} of {name}", "status": "NOT_FOUND"}}
        if r.method == "GET" and (m := re.fullmatch(r"/v1/(.+/endpoints/[^/:]+)", r.path)):
            return 200, self.endpoints[m.group(1)]
        if r.method == "POST" and (m := re.fullmatch(r"/v1/(.+/endpoints/[^/:]+):deployModel", r.path)):
            body = json.loads(r.body)
            deployed = {
                **body["deployedModel"],
                "id": f"deployed-{len(self.endpoints[m.group(1)]['deployedModels']) + 1}",
            }
            ep = self.endpoints[m.group(1)]
            ep["deployedModels"].append(deployed)
            split = body.get("trafficSplit", {})
            ep["trafficSplit"] = {(deployed["id"] if k == "0" else k): v for k, v in split.items()}
            return 200, {
                "name": f"{m.group(1)}/operations/deploy-1",
                "done": True,
                "response": {
                    "@type": "type.googleapis.com/google.cloud.aiplatform.v1.DeployModelResponse",
                    "deployedModel": deployed,
                },
            }
        if r.method == "GET" and r.path.endswith("/pipelineJobs"):
            return 200, {"pipelineJobs": list(self.vertex_jobs.values())}
        return 404, {"error": f"no Vertex route for {r.method} {r.path}"}
