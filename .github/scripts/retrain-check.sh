#!/usr/bin/env bash
# The scheduled retrain check (.github/workflows/retrain.yml): runs
# deploy/k8s-canary/jobs/retrain-check.yaml (`cifar10-release --if-retrain-requested`) in the
# cluster with the image the canary router runs, waits for it and prints its log. Exits
# non-zero when the Job failed (pipeline failure, rollback, bad data) or timed out.
#
#   retrain-check.sh NAMESPACE [TIMEOUT_SECONDS]
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 NAMESPACE [TIMEOUT_SECONDS]" >&2
  exit 2
fi
namespace="$1" timeout="${2:-7200}"
cd "$(dirname "$0")/../.."
job=cifar10-retrain-check
k() { kubectl --namespace "$namespace" "$@"; }

image="$(k get deployment/cifar10-router \
  -o jsonpath='{.spec.template.spec.containers[?(@.name=="router")].image}')"
if [ -z "$image" ]; then
  echo "error: no cifar10-router deployment in namespace $namespace (run the main workflow)" >&2
  exit 1
fi
echo "retrain check with $image"
k delete job "$job" --ignore-not-found --wait=true
kubectl set image --local -f deploy/k8s-canary/jobs/retrain-check.yaml \
  "release=$image" -o yaml | k apply -f -

deadline=$(( $(date +%s) + timeout ))
while :; do
  succeeded="$(k get job "$job" -o jsonpath='{.status.succeeded}')"
  failed="$(k get job "$job" -o jsonpath='{.status.failed}')"
  if [ "${succeeded:-0}" -ge 1 ] || [ "${failed:-0}" -ge 1 ]; then
    break
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    k logs "job/$job" --tail=200 || true
    echo "error: $job still running after ${timeout}s" >&2
    exit 1
  fi
  sleep 30
done
k logs "job/$job"
if [ "${failed:-0}" -ge 1 ]; then
  echo "error: $job failed (exit 3: rolled back, 1: pipeline/serving failure, 2: bad data)" >&2
  exit 1
fi
