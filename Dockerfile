FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY policy_core ./policy_core
COPY api ./api
COPY scheduler ./scheduler
RUN pip install --no-cache-dir .
# Generated files (the audit signing key) live here, on a volume the services share.
RUN mkdir -p /var/lib/policy-admin && chown nobody /var/lib/policy-admin
ENV POLICY_DATA_DIR=/var/lib/policy-admin
USER nobody
ENTRYPOINT ["policy-admin"]
