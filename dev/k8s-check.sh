#!/usr/bin/env bash
# Builds every kustomization under k8s/ (base and each overlay) and checks
# the manifests against the Kubernetes schemas, offline and strict: a
# misspelled or misplaced field fails (kubernetes-validate, from the venv).
source "$(dirname "$0")/common.sh"
cd "$(dirname "$0")/.."
command -v kubectl >/dev/null \
  || die "kubectl is needed to build the k8s kustomizations (kubectl kustomize)"
dev/python.sh
validate="$FS_CACHE/venv/bin/kubernetes-validate"
KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.34.0}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for dir in k8s/base k8s/overlays/*/; do
  dir="${dir%/}"
  kubectl kustomize "$dir" > "$out" || die "$dir does not build"
  "$validate" --strict --quiet --no-warn --kubernetes-version "$KUBERNETES_VERSION" "$out" \
    || die "$dir: manifests do not validate against Kubernetes $KUBERNETES_VERSION"
  # Custom resources (ServiceMonitor) have no schema there: counted apart.
  custom=$(grep -c '^apiVersion: monitoring.coreos.com/' "$out" || true)
  echo "k8s: $dir builds and validates ($(grep -c '^kind:' "$out") objects, Kubernetes $KUBERNETES_VERSION, strict; $custom custom resources without a schema)"
done
