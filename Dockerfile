# syntax=docker/dockerfile:1
# fiscal-worker image: one image, every command of CONTRACT §1 (`serve` by default).
#   docker build -t fiscal-worker .
#   docker run --rm -e REDIS_URL=… -e API_TOKENS=… -e BOARD_USERNAME=… -e BOARD_PASSWORD=… -p 3000:3000 fiscal-worker
#   docker run --rm -e REDIS_URL=… fiscal-worker worker --providers payme,uzum
ARG NODE_VERSION=22

# ---- build: full install, TypeScript → dist/ -----------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only ----------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime -------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# tini is PID 1: it forwards SIGTERM/SIGINT to Node (graceful drain, CONTRACT §1) and reaps zombies.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/* \
  && printf '#!/bin/sh\nexec node /app/dist/main.js "$@"\n' > /usr/local/bin/fiscal-worker \
  && chmod 0755 /usr/local/bin/fiscal-worker
# HOST=0.0.0.0: reachable from other containers; the process then refuses to start without
# API_TOKENS and BOARD_USERNAME/BOARD_PASSWORD (CONTRACT §2).
# NODE_OPTIONS: without a limit V8 sizes the old generation from the machine's memory and lets short-lived garbage
# grow it before a full collection; peak RSS follows (issue 18: `serve` peaked at 216–230 MiB under load, 162–169 with
# 256 MB; the worker 205–210 → 150–167; the live heap after a full collection stays near 40 MB). Its throughput cost is
# inside this machine's run-to-run spread (A/B in docs/BENCHMARKS.md). The bench runs the product with this value.
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-old-space-size=256" \
    HOST=0.0.0.0 \
    PORT=3000 \
    METRICS_PORT=9464
WORKDIR /app
# Owned by root and read-only for the `node` user: the process cannot rewrite its own code.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
# 3000: serve/api (HTTP API, Bull Board, /metrics); 9464: worker (/metrics, /healthz).
EXPOSE 3000 9464
# No curl in slim images: Node's own fetch. `worker` and `sandbox` override this in docker-compose.yml.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["tini", "--", "node", "dist/main.js"]
CMD ["serve"]
