#!/usr/bin/env bash
# make lab: a 2-node cluster on this machine with cilium-ts installed by Helm and a demo app across
# both nodes; left running. make lab-down removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME="${LAB_NAME:-demo}"
NODES="${LAB_NODES:-2}"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if [ "${1:-}" = "down" ]; then
  bin/cilium-lab down --name "$NAME"
  exit 0
fi

step "upstream binaries (built once from the Go module proxy, then cached)"
lab/build-upstream.sh >/dev/null
step "cilium-lab up --name $NAME --nodes $NODES"
bin/cilium-lab up --name "$NAME" --nodes "$NODES"
eval "$(bin/cilium-lab env --name "$NAME")"
step "helm install cilium (install/kubernetes/values-lab.yaml)"
helm install cilium ./install/kubernetes/cilium -n kube-system -f install/kubernetes/values-lab.yaml \
  --set k8sServiceHost="$LAB_API_HOST" --set k8sServicePort="$LAB_API_PORT" --wait=false
step "cilium status --wait"
bin/cilium status --wait --wait-duration 5m
step "demo app: echo and client on both nodes"
kubectl apply -f lab/demo-app.yaml
kubectl rollout status deploy/echo deploy/client --timeout=180s
kubectl get pods -o wide
for c in $(kubectl get pods -l app=client -o jsonpath='{.items[*].metadata.name}'); do
  for ip in $(kubectl get pods -l app=echo -o jsonpath='{.items[*].status.podIP}'); do
    printf '%s -> %s: ' "$c" "$ip"
    bin/cilium-lab exec --name "$NAME" "default/$c" -- curl -sS -m 5 -o /dev/null -w '%{http_code}\n' "http://$ip:8080/"
  done
done
for c in $(kubectl get pods -l app=client -o jsonpath='{.items[*].metadata.name}'); do
  printf '%s -> http://echo (Service %s): ' "$c" "$(kubectl get svc echo -o jsonpath='{.spec.clusterIP}')"
  bin/cilium-lab exec --name "$NAME" "default/$c" -- curl -sS -m 5 -o /dev/null -w '%{http_code}\n' "http://echo/"
done
step "lab $NAME is running"
cat <<USAGE
  eval "\$(bin/cilium-lab env --name $NAME)"     # KUBECONFIG, kubectl and helm on PATH
  kubectl get pods -A -o wide
  bin/cilium status
  bin/cilium-dbg -H unix:///run/cilium-lab/$NAME/nodes/node1/run-cilium/cilium.sock endpoint list
  bin/cilium-lab exec --name $NAME default/<client-pod> -- curl http://echo/    # the Service, by name
  bin/cilium-dbg -H unix:///run/cilium-lab/$NAME/nodes/node1/run-cilium/cilium.sock service list
  make lab-down LAB_NAME=$NAME                    # remove it
USAGE
