"""tabml-rollout deploy|promote|rollback|sync: rollouts of a model's InferenceService.

    tabml-rollout deploy   --namespace tabml-prod --name tabml-predictor \
                           --storage-uri gs://BUCKET/registry/<model_name>/1795336860 --canary-percent 10
                           [--ready-timeout 600]  (0: do not wait; else wait, revert and fail if not ready)
    tabml-rollout promote  --namespace tabml-prod --name tabml-predictor
    tabml-rollout rollback --namespace tabml-prod --name tabml-predictor [--restore]
    tabml-rollout sync     --namespace tabml-prod --name tabml-predictor  (after a kubectl apply reset the URI)

Credentials: the kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) or, inside a pod, the
service account; --api-server points at another API server (tests use a local fake).
"""

from __future__ import annotations

import argparse
import json
import sys

import yaml
from kubernetes import client

from .isvc import IsvcRollout, RolloutError
from .kube import custom_objects_api


def api_from(args) -> client.CustomObjectsApi:
    if args.api_server:
        cfg = client.Configuration()
        cfg.host = args.api_server
        return client.CustomObjectsApi(client.ApiClient(cfg))
    return custom_objects_api(args.kubeconfig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tabml-rollout", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["deploy", "promote", "rollback", "sync"])
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--storage-uri", help="deploy: the pushed version directory")
    parser.add_argument("--canary-percent", type=int, default=10)
    parser.add_argument("--model-version", default="")
    parser.add_argument("--template", help="deploy: a rendered InferenceService YAML, used if none exists")
    parser.add_argument("--restore", action="store_true", help="rollback: also restore the previous storage URI")
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=600,
        help="deploy: seconds to wait for the new model to serve (0: no wait)",
    )
    parser.add_argument("--poll", type=float, default=5, help="seconds between readiness checks")
    parser.add_argument("--kubeconfig")
    parser.add_argument("--api-server")
    args = parser.parse_args(argv)
    try:
        rollout = IsvcRollout(api_from(args), args.namespace, args.name, poll_s=args.poll)
        if args.action == "deploy":
            if not args.storage_uri:
                parser.error("deploy needs --storage-uri")
            template = None
            if args.template:
                with open(args.template) as f:
                    template = next(d for d in yaml.safe_load_all(f) if d and d.get("kind") == "InferenceService")
            result = rollout.deploy(
                args.storage_uri,
                args.canary_percent,
                model_version=args.model_version,
                template=template,
                ready_timeout_s=args.ready_timeout or None,
            )
        elif args.action == "sync":
            result = rollout.sync()
        elif args.action == "promote":
            result = rollout.promote()
        else:
            result = rollout.rollback(restore=args.restore)
    except RolloutError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                "action": result.action,
                "namespace": result.namespace,
                "name": result.name,
                "storage_uri": result.storage_uri,
                "previous_storage_uri": result.previous_storage_uri,
                "canary_percent": result.canary_percent,
                "mode": result.mode,
                "ready": result.ready,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
