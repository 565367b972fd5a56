# Plancton's container image.
#
#   docker build -t plancton .
#   docker run -d --name plancton --restart unless-stopped --privileged \
#     -v /var/run/docker.sock:/var/run/docker.sock -v /proc:/host/proc:ro \
#     -v /sys/fs/cgroup:/sys/fs/cgroup plancton
#
# Build arguments: NODE_IMAGE (the Node 24 base of both stages), VERSION and REVISION (OCI
# labels, e.g. --build-arg VERSION=$(node -p "require('./package.json').version")
# --build-arg REVISION=$(git rev-parse HEAD)). Works with the classic builder and BuildKit.
ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: dev dependencies, compile, then drop the dev dependencies ---------------------
FROM ${NODE_IMAGE} AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
WORKDIR /src
COPY package.json package-lock.json ./
# No dependency needs an install script (ssh2's optional native crypto and cpu-features are
# never built; dockerode talks to a Unix socket): --ignore-scripts runs none of them.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts \
 && find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete

# --- runtime: Node, tini, production dependencies, dist and config ------------------------
FROM ${NODE_IMAGE}

# tini as PID 1: forwards SIGTERM/SIGINT to the daemon and reaps `docker exec`'d children.
# git (with ca-certificates for https) for `plancton bootstrap` and PLANCTON_CONF_GIT.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini git ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/plancton
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules/
COPY --from=build /src/dist ./dist/
COPY config ./config/
RUN chmod 755 dist/cli/plancton.js dist/cli/planctonctl.js dist/cli/plancton-bootstrap.js \
 && ln -s /opt/plancton/dist/cli/plancton.js /usr/local/bin/plancton \
 && ln -s /opt/plancton/dist/cli/planctonctl.js /usr/local/bin/planctonctl \
 && ln -s /opt/plancton/dist/cli/plancton-bootstrap.js /usr/local/bin/plancton-bootstrap \
 && plancton --version

# Declared here, not at the top of the stage, so that a new REVISION rebuilds only the labels.
ARG NODE_IMAGE
ARG VERSION=""
ARG REVISION=""
LABEL org.opencontainers.image.title="plancton" \
      org.opencontainers.image.description="Opportunistic computing with containers: fills a host's idle CPUs with pilot containers and gives them back at once." \
      org.opencontainers.image.licenses="GPL-2.0-or-later" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}" \
      org.plancton.self="true"

# PLANCTON_HOST_PROC: the host's /proc, mounted read-only (-v /proc:/host/proc:ro).
# PLANCTON_DEFAULT_CONFIG: the embedded default (harmless busybox pilots), used only while no
# /etc/plancton/config.yaml is mounted and neither PLANCTON_CONF_URL nor PLANCTON_CONF_GIT
# (user/repo[:branch], cloned into /etc/plancton and kept up to date) is set; PLANCTON_<KEY>
# variables override single keys of whichever configuration is used.
ENV NODE_ENV=production \
    PLANCTON_HOST_PROC=/host/proc \
    PLANCTON_DEFAULT_CONFIG=/opt/plancton/config/container-default.yaml

# Unhealthy when the daemon is gone, its loop has not ticked recently, or the engine is unreachable.
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 CMD ["plancton", "health"]

# SIGTERM is a graceful stop; what happens to the pilots is on_stop (PLANCTON_ON_STOP):
# keep (default), drain or remove. Give `docker stop -t` enough time for drain and remove.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "plancton"]
CMD ["run"]
