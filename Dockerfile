# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, ship production dependencies and dist/ only,
# run as the image's unprivileged `node` user. Node is the current LTS (24).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# the typed client is an npm workspace: npm ci needs its package.json, the build its sources
COPY package.json package-lock.json ./
COPY clients/typescript/package.json ./clients/typescript/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
COPY clients/typescript ./clients/typescript
RUN npm run build

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY clients/typescript/package.json ./clients/typescript/
# no install scripts are needed at run time
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0
WORKDIR /app
COPY --from=prod-deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
# /demo (demo mode only): its page and the typed client it loads, as built in the build stage
# (openapi-fetch, the client's one dependency, is among the production dependencies)
COPY --chown=root:root public ./public
COPY --from=build --chown=root:root /app/clients/typescript/package.json ./clients/typescript/
COPY --from=build --chown=root:root /app/clients/typescript/dist ./clients/typescript/dist
COPY --chown=root:root package.json ./
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# exec form: node is PID 1 and gets SIGTERM itself; close-with-grace's handlers drain in-flight requests.
# Pretenuring off: V8 would otherwise tenure request-path allocation sites early on (bench/profiling.md)
CMD ["node", "--no-allocation-site-pretenuring", "--heap-growing-percent=20", "dist/src/server.js"]
