# DTR's container image: `docker build -t dtr .` then
#   docker run -d -p 8443:8443 -v dtr-instance:/var/lib/dtr/instance dtr
# (compose.yaml does the same). BASE is any Debian bookworm image with python3 (3.11) and
# python3-venv: python:3.11-slim-bookworm by default; the tests build one with debootstrap.
ARG BASE=python:3.11-slim-bookworm

# --- build: the pinned requirements in a virtualenv (wheels only: no compiler needed) ----
# Behind a proxy that inspects TLS, put its CA bundle next to this file as build-ca.crt:
# pip trusts it here; it never reaches the final image.
FROM ${BASE} AS build
COPY requirements.txt build-ca*.crt /opt/dtr/
RUN if [ -f /opt/dtr/build-ca.crt ]; then export PIP_CERT=/opt/dtr/build-ca.crt; fi \
    && python3 -m venv /opt/dtr/venv \
    && /opt/dtr/venv/bin/pip install --no-cache-dir --only-binary=:all: \
        -r /opt/dtr/requirements.txt \
    && /opt/dtr/venv/bin/pip uninstall -y -q pip

# --- run: the virtualenv and DTR's code, as a user without privileges ----------------------
FROM ${BASE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="DTR" \
      org.opencontainers.image.description="A self-hosted container image registry" \
      org.opencontainers.image.version="${VERSION}"
RUN groupadd --system --gid 10001 dtr \
    && useradd --system --uid 10001 --gid dtr --home-dir /var/lib/dtr --no-create-home dtr \
    && mkdir -p /var/lib/dtr/instance \
    && chown -R dtr:dtr /var/lib/dtr
COPY --from=build /opt/dtr/venv /opt/dtr/venv
COPY app.py /opt/dtr/app.py
COPY dtr /opt/dtr/dtr
# compiled now: the code is read-only for the dtr user, so it could not be cached at start
RUN /opt/dtr/venv/bin/python -m compileall -q /opt/dtr/app.py /opt/dtr/dtr
WORKDIR /opt/dtr
USER dtr
ENV DTR_INSTANCE=/var/lib/dtr/instance \
    PATH=/opt/dtr/venv/bin:$PATH \
    PYTHONUNBUFFERED=1
VOLUME /var/lib/dtr/instance
EXPOSE 8443
# /health answers 200 while the server runs (HTTPS with the instance's own certificate);
# DTR_HEALTH_URL when `serve` is given another address
ENV DTR_HEALTH_URL=https://127.0.0.1:8443/health
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, ssl, urllib.request; urllib.request.urlopen(os.environ['DTR_HEALTH_URL'], context=ssl._create_unverified_context(), timeout=4)"]
ENTRYPOINT ["python", "app.py"]
CMD ["serve", "--bind", "0.0.0.0:8443"]
