# downward-webhook container image: `downward-webhook serve` over TLS on 8443, as non-root UID 65532,
# runnable with a read-only root filesystem. Published as ghcr.io/downward-dev/downward-webhook (the Helm
# chart's default image.repository); build with:
#
#   docker build -t ghcr.io/downward-dev/downward-webhook:0.1.0 .
#
# EXTRAS adds optional extras of the package: --build-arg EXTRAS=check adds `downward-webhook check` and its
# Kubernetes client (lightkube), for the chart's checkJob. The default image carries the server only.
#
# The base image is pinned by tag (python 3.11 on Debian bookworm, slim); pin a digest too in your own
# build (FROM python:3.11.14-slim-bookworm@sha256:...) for byte-for-byte reproducible images.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- builder: install the project and its wheels into a virtualenv ----------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

# The venv has no pip of its own: the builder's pip installs into it, so none of pip, setuptools or wheel
# lands in /opt/venv. Every dependency ships manylinux wheels, so no compiler is needed (pip fails loudly
# if one ever is, instead of silently pulling a toolchain into the image).
RUN python -m venv --without-pip /opt/venv

ARG EXTRAS=""
WORKDIR /src
COPY pyproject.toml README.md ./
COPY webhook ./webhook
# Then compile every module once, here: the final image's root filesystem is read-only, so Python could not
# cache bytecode at run time. unchecked-hash: the .pyc stay valid whatever mtimes the copied files get.
RUN pip --python /opt/venv/bin/python install --no-compile "./${EXTRAS:+[$EXTRAS]}" \
    && /opt/venv/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/venv/lib

# --- final: the interpreter, the venv, nothing else --------------------------------------------------------
FROM ${PYTHON_IMAGE}

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="downward-webhook" \
      org.opencontainers.image.description="Kubernetes mutating admission webhook: Downward API env vars, files and a kubectl-proxy ambassador, by annotation" \
      org.opencontainers.image.url="https://ghcr.io/downward-dev/downward-webhook" \
      org.opencontainers.image.source="https://github.com/downward-dev/downward-webhook" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# Remove the package tooling that the base image ships (pip, setuptools, wheel, ensurepip's bundled
# wheels), precompile the standard library for the read-only root filesystem, and add the fixed non-root
# user the chart's securityContext names (runAsUser/runAsGroup 65532, like distroless' "nonroot").
RUN python -m pip uninstall --yes pip setuptools wheel \
    && rm -rf /usr/local/lib/python3.11/ensurepip /usr/local/bin/pip* /root/.cache \
    && python -m compileall -q -j 0 /usr/local/lib/python3.11 \
    && groupadd --system --gid 65532 nonroot \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin nonroot

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 65532:65532
WORKDIR /tmp
EXPOSE 8443

# The chart mounts the serving certificate at /tls and the operator config at /config, and passes the same
# arguments explicitly; `docker run` without those mounts fails at start with a message naming the file.
ENTRYPOINT ["downward-webhook", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8443", "--tls-cert", "/tls/tls.crt", "--tls-key", "/tls/tls.key", "--config", "/config/config.yaml"]
