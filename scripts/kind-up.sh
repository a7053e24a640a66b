#!/usr/bin/env bash
# Bring xdscp up on a local kind cluster, deploy the canary and strict-mTLS examples,
# and smoke-check them: `make kind-up` (or scripts/kind-up.sh).
#
#   1. create the kind cluster (kind-config.yaml) unless it exists
#   2. build the xdscp image, load it and the stock Envoy image into the nodes
#   3. install the CRDs, RBAC and the control plane (2 replicas), wait for rollout
#   4. deploy examples/canary and examples/strict-mtls: workloads injected with
#      `xdscp inject`, Istio objects applied verbatim from examples/
#   5. smoke check: the observed canary split, an authorized mTLS call, and a
#      plaintext call refused by STRICT mTLS
#
# Needs: docker (running), kind, kubectl, and .venv (make builds it) for `xdscp inject`.
# Re-running is safe: every step is idempotent. Tear down: kind delete cluster --name xdscp
set -euo pipefail

CLUSTER="${CLUSTER:-xdscp}"
IMAGE="${IMAGE:-xdscp:dev}"
ENVOY_IMAGE="${ENVOY_IMAGE:-envoyproxy/envoy:v1.31-latest}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
XDSCP="${XDSCP:-$ROOT/.venv/bin/xdscp}"
REQUESTS="${REQUESTS:-200}"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'kind-up: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required (see README: Kubernetes / kind)"; }

need docker
need kind
need kubectl
[ -x "$XDSCP" ] || die "$XDSCP not found: run 'make test' or 'make run' once to build .venv"
docker info >/dev/null 2>&1 || die "the docker engine is not running"

# Wait until the control plane has published the mesh root into a namespace:
# injected Pods mount ConfigMap istio-ca-root-cert and cannot start without it.
wait_root_cert() {
  local namespace="$1" _
  for _ in $(seq 120); do
    if kubectl -n "$namespace" get configmap istio-ca-root-cert >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  die "no istio-ca-root-cert in namespace $namespace after 120 s (kubectl -n xdscp-system logs deploy/xdscp)"
}

pod_ip() {
  kubectl -n "$1" get pod -l "app=$2" -o jsonpath='{.items[0].status.podIP}'
}

step "kind cluster '$CLUSTER'"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  echo "exists"
else
  kind create cluster --name "$CLUSTER" --config kind-config.yaml --wait 180s
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

step "images: build $IMAGE, load it and $ENVOY_IMAGE into the nodes"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"
if docker pull "$ENVOY_IMAGE"; then
  kind load docker-image "$ENVOY_IMAGE" --name "$CLUSTER"
else
  echo "could not pull $ENVOY_IMAGE here; the nodes will pull it themselves"
fi

step "CRDs, RBAC and the control plane"
kubectl apply -f deploy/crds.yaml
kubectl wait --for condition=established --timeout=60s -f deploy/crds.yaml
kubectl apply -f deploy/namespace.yaml -f deploy/rbac.yaml
# the debug port's bearer token: random, made once, kept across re-runs
if ! kubectl -n xdscp-system get secret xdscp-debug-token >/dev/null 2>&1; then
  kubectl -n xdscp-system create secret generic xdscp-debug-token \
    --from-literal=token="$(openssl rand -hex 32)"
fi
kubectl apply -f deploy/control-plane.yaml
kubectl -n xdscp-system rollout status deploy/xdscp --timeout=300s
kubectl -n xdscp-system get lease xdscp-leader -o jsonpath='leader: {.spec.holderIdentity}{"\n"}'

step "examples/canary (namespace default)"
wait_root_cert default
"$XDSCP" inject -f deploy/examples/canary.yaml --envoy-image "$ENVOY_IMAGE" --init-image "$IMAGE" \
  | kubectl apply -f -
kubectl apply -f examples/canary/routing.yaml -f examples/canary/sidecars.yaml

step "examples/strict-mtls (namespace prod)"
for namespace in prod legacy; do
  kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f -
done
wait_root_cert prod
"$XDSCP" inject -f deploy/examples/strict-mtls.yaml --envoy-image "$ENVOY_IMAGE" --init-image "$IMAGE" \
  | kubectl apply -f -
kubectl apply -f examples/strict-mtls/peer-authentication.yaml \
  -f examples/strict-mtls/authorization.yaml -f examples/strict-mtls/sidecars.yaml

for deployment in default/order-v1 default/order-v2 default/client prod/orders-v1 prod/frontend \
  prod/intruder legacy/plaintext; do
  kubectl -n "${deployment%/*}" rollout status "deploy/${deployment#*/}" --timeout=300s
done

step "status written back by the leader"
kubectl get virtualservices,destinationrules,peerauthentications,authorizationpolicies -A

step "smoke: canary split over $REQUESTS calls from the client's sidecar (expect ~90/10)"
client_ip="$(pod_ip default client)"
kubectl -n default exec deploy/client -c app -- \
  python -m xdscp.kube.demo call "http://$client_ip:8080/" --host-header order-service --count "$REQUESTS"

step "smoke: frontend -> orders over mutual TLS (expect v1, allowed)"
frontend_ip="$(pod_ip prod frontend)"
kubectl -n prod exec deploy/frontend -c app -- \
  python -m xdscp.kube.demo call "http://$frontend_ip:8080/orders" --host-header orders --count 5

step "smoke: plaintext call from outside the mesh to orders (expect refused)"
orders_ip="$(pod_ip prod orders)"
if kubectl -n legacy exec deploy/plaintext -- \
  python -m xdscp.kube.demo call "http://$orders_ip:8080/orders" --count 3 --timeout 2; then
  die "a plaintext call reached orders: STRICT mTLS is not enforced"
fi
echo "plaintext refused: STRICT mTLS holds"

printf '\nxdscp is up on kind-%s. Tear down: kind delete cluster --name %s\n' "$CLUSTER" "$CLUSTER"
