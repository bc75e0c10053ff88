"""The cluster add-ons the mirror needs: an ingress controller and metrics-server.

Ingress controller: **ingress-nginx**, not cloud-provider-kind. Why:
- staging and prod run the NGINX ingress controller (design brief), and the topology's Ingress
  uses `ingressClassName: nginx`; mirroring the same controller keeps its behaviour (path
  matching, annotations, body-size and timeout defaults) identical, which is the point of the
  mirror;
- it is served through the control plane's hostPort 80/443, which kind maps to 127.0.0.1 only,
  so the mirror is reachable at http://127.0.0.1/ and nothing else; cloud-provider-kind gives
  LoadBalancer IPs on the `kind` Docker network instead, runs as an extra privileged process on
  the host with the Docker socket, and would need an IngressClass named `nginx` pointed at it.
- The cost: ingress-nginx is retired upstream (no fixes since March 2026). Acceptable for a
  laptop-only mirror bound to 127.0.0.1; when staging/prod move to Gateway API, switch the
  mirror to cloud-provider-kind in the same change.

Both add-ons are kustomizations under `profiles/k8s/addons/` that reference the upstream
manifests by pinned URL, fetched when `cluster up` applies them (not vendored: the cluster must
pull the controller images from registry.k8s.io anyway, so a vendored copy would not make the
mirror work offline). Tests check the commands, never fetch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Addon:
    name: str
    directory: str
    """Kustomization directory under profiles/k8s/addons/."""
    namespace: str
    rollout: str
    """What `kubectl rollout status` waits for, e.g. `deployment/ingress-nginx-controller`."""


INGRESS_NGINX = Addon("ingress-nginx", "ingress-nginx", "ingress-nginx",
                      "deployment/ingress-nginx-controller")
METRICS_SERVER = Addon("metrics-server", "metrics-server", "kube-system",
                       "deployment/metrics-server")
ADDONS = (INGRESS_NGINX, METRICS_SERVER)


def addon_dir(k8s_dir: Path, addon: Addon) -> Path:
    """The add-on's kustomization directory inside the profiles' k8s directory."""
    return k8s_dir / "addons" / addon.directory
