# syntax=docker/dockerfile:1

# ---- build: production dependencies, with better-sqlite3 compiled for this image ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# tsx is a runtime dependency (the server runs from TypeScript source), so --omit=dev keeps it.
RUN npm ci --omit=dev --no-audit --no-fund

# ---- runtime: no compiler, non-root ----
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
# Code and dependencies stay root-owned (read-only for the app); only /app/data is writable.
COPY --from=build /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY server ./server
COPY protocol ./protocol
COPY clients ./clients
# Default DB_PATH is ./data/dispatch.db; a named volume mounted here inherits this ownership.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# node itself is the main process (not npm), so SIGTERM reaches server/main.ts's shutdown handler.
CMD ["node", "--import", "tsx", "server/main.ts"]
