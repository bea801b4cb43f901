#!/usr/bin/env bash
# Start a canary of a pushed model version on the cluster (the `canary` job of
# .github/workflows/deliver.yml). kubectl must already point at the cluster (KUBECONFIG) and
# the namespace; the registry and images come in as arguments, never from this file.
#
#   start-canary.sh NAMESPACE PIPELINE_IMAGE SERVING_IMAGE VERSION
#
# 1. deploy/k8s-canary (tracks, Services, router, Istio rules at the first weight step);
#    the router runs the pushed pipeline image.
# 2. The model-sync Job copies VERSION from the serving image onto the shared volume.
# 3. In the router pod, `cifar10-rollout`: the first version ever becomes stable (`init`);
#    later ones start as canary (`start --server` on the canary track: loaded with no traffic,
#    AVAILABLE, then the first weight step). The analysis then steps, promotes or rolls back.
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 NAMESPACE PIPELINE_IMAGE SERVING_IMAGE VERSION" >&2
  exit 2
fi
namespace="$1" pipeline_image="$2" serving_image="$3" version="$4"
cd "$(dirname "$0")/../.."
canary_dir=deploy/k8s-canary
rollout=(cifar10-rollout --output-root=/data/outputs)
k() { kubectl --namespace "$namespace" "$@"; }

echo "::group::apply $canary_dir"
k apply -k "$canary_dir"
k set image deployment/cifar10-router "router=$pipeline_image"
k rollout status deployment/cifar10-router --timeout=10m
echo "::endgroup::"

echo "::group::model-sync: version $version from $serving_image"
k delete job cifar10-model-sync --ignore-not-found --wait=true
kubectl set image --local -f "$canary_dir/jobs/model-sync.yaml" \
  "model-sync=$serving_image" -o yaml | k apply -f -
k wait --for=condition=complete job/cifar10-model-sync --timeout=15m
k logs job/cifar10-model-sync
echo "::endgroup::"

state="$(k exec deployment/cifar10-router -- "${rollout[@]}" status --json)"
echo "rollout state before: $state"
field() {  # field NAME: one value of the JSON state ("" for null)
  python3 -c 'import json, sys; v = json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1" <<<"$state"
}
stable="$(field stable)"
canary="$(field canary)"
if [ -z "$stable" ]; then
  echo "no stable version yet: version $version becomes the first stable one"
  k exec deployment/cifar10-router -- "${rollout[@]}" --actor=github-actions \
    --reason="first deployment" init "$version"
elif [ "$stable" = "$version" ]; then
  echo "version $version is already stable: nothing to roll out"
elif [ -n "$canary" ]; then
  echo "error: the rollout of version $canary is still in progress; version $version waits" >&2
  exit 1
else
  k exec deployment/cifar10-router -- "${rollout[@]}" --actor=github-actions \
    --reason="pushed by ${GITHUB_SHA:-a manual run}" \
    start "$version" --server=http://cifar10-serving-canary:8501
fi
k exec deployment/cifar10-router -- "${rollout[@]}" status
