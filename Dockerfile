# The xdscp image: the control plane (`xdscp serve --kubernetes`), the sidecar init
# step of injected Pods (`python -m xdscp.kube.podinit`, which needs iptables) and the
# kind examples' demo app. Sidecars themselves run the stock envoyproxy/envoy image.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /build
COPY pyproject.toml README.md ./
COPY xdscp ./xdscp
COPY translators ./translators
COPY ca ./ca
COPY xdstypes ./xdstypes
RUN pip install --no-cache-dir . \
 && cd / && rm -rf /build

WORKDIR /
# the control plane runs unprivileged; the init step is given root + NET_ADMIN by its
# own securityContext when (and only when) it installs traffic capture
USER 10001
EXPOSE 15010 15012 15014
CMD ["xdscp", "--help"]
