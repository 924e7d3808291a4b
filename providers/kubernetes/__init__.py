"""The Kubernetes cluster driver, on the official ``kubernetes`` client (EKS, AKS, k3s)."""

from providers.kubernetes.driver import BearerToken, KubernetesClusterDriver

__all__ = ["BearerToken", "KubernetesClusterDriver"]
