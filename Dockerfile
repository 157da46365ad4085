# syntax=docker/dockerfile:1
# Build: docker build -t forest-approvals .
# Run:   docker run --rm -p 3000:3000 --env-file approvals.env forest-approvals

FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY blocks ./blocks
COPY proto ./proto
# The fakes and the demo (bot/local) are not the product: the image leaves them out.
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf /opt/venv/lib/python3.11/site-packages/bot/local

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home /app approvals
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=3000
USER approvals
WORKDIR /app
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"3000\")}/healthz', timeout=2)"
ENTRYPOINT ["approvals-bot"]
CMD ["run"]
