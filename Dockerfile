# ccm: one instance per container; several behind a load balancer share one Redis
# (docs/deploy.md). Build: docker build -t ccm .
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY ccm ./ccm
COPY grammar ./grammar
COPY rules ./rules
RUN pip install ".[redis]" \
    && useradd --system --uid 10001 --create-home --home-dir /home/ccm ccm \
    && mkdir -p /data/tokens /data/ledger \
    && chown -R ccm:ccm /data

# config mounted read-only at /etc/ccm; OAuth tokens on a volume every instance shares
ENV CCM_CONFIG=/etc/ccm/config.toml \
    CCM_OAUTH_TOKENS=/data/tokens/oauth_tokens.json

USER ccm
WORKDIR /home/ccm
EXPOSE 13456

HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:13456/health', timeout=2).status != 200)"]

CMD ["ccm", "start", "--host", "0.0.0.0", "--port", "13456"]
