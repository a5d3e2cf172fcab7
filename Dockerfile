FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY policy_core ./policy_core
COPY api ./api
COPY scheduler ./scheduler
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["policy-admin"]
