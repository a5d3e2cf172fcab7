FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY policy_core ./policy_core
COPY api ./api
COPY scheduler ./scheduler
RUN pip install --no-cache-dir .
# A dedicated user that owns what the services write: POLICY_DATA_DIR (generated keys, the audit
# signing key) and the Zengin outbox under it (request files, mode 0600). docker-compose mounts a
# named volume on each; a new named volume takes these owners and modes from the image. The code
# in /app stays root-owned and read-only for the service.
RUN groupadd --system --gid 10001 policy \
    && useradd --system --uid 10001 --gid policy --home-dir /var/lib/policy-admin --shell /usr/sbin/nologin policy \
    && mkdir -p /var/lib/policy-admin/zengin/outbox \
    && chown -R policy:policy /var/lib/policy-admin \
    && chmod 0700 /var/lib/policy-admin /var/lib/policy-admin/zengin /var/lib/policy-admin/zengin/outbox
ENV POLICY_DATA_DIR=/var/lib/policy-admin
USER policy
EXPOSE 8000
ENTRYPOINT ["policy-admin"]
