# syntax=docker/dockerfile:1
# MuAI's OpenAI-compatible server (`muai serve`) with the default model inside.
#   docker build -t muai .
#   docker run --rm -p 8000:8000 muai            # http://127.0.0.1:8000/v1, /health, /ready, /metrics
# The build runs the same commands as CI (README.md's ci:test-command): `npm ci` (whose prepare
# script builds every package and generates models/generated/tiny), then `npm run build`.
# deploy/README.md says what was verified on the machine this was written on.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV NX_DAEMON=false NX_NO_CLOUD=true CI=true
COPY . .
RUN npm ci
RUN npm run build
# Runtime dependencies only in the final image (dev tools such as nx, vitest and tsup go).
RUN npm prune --omit=dev

FROM ${NODE_IMAGE} AS runtime
# An unprivileged account, as in deploy/systemd/muai-orchestration.service.
RUN groupadd --system --gid 10001 muai \
  && useradd --system --uid 10001 --gid muai --home-dir /var/lib/muai --create-home --shell /usr/sbin/nologin muai
COPY --from=build /src /opt/muai/current
WORKDIR /var/lib/muai
# Listen on every interface of the container; logs go to stdout and /var/lib/muai/logs/muai.log.
ENV NODE_ENV=production \
    MUAI_MON_SERVER_HOST=0.0.0.0 \
    MUAI_MON_SERVER_PORT=8000
USER muai
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8000/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/opt/muai/current/apps/cli/bin/muai.mjs"]
CMD ["serve"]
