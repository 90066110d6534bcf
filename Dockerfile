# Tidewatch container image.
#
# Build:  DOCKER_BUILDKIT=1 docker build -t tidewatch .
# Run:    docker run --rm -p 8080:8080 -v tidewatch-data:/data tidewatch
#
# No "# syntax=" line on purpose: the Dockerfile frontend built into current
# Docker/BuildKit already supports RUN --mount=type=cache, and pinning a
# frontend image would mean pulling it from Docker Hub on every build.
#
# Base images are build arguments so CI can pull the same official images
# from a mirror (CodeBuild uses public.ecr.aws/docker/library/... to avoid
# Docker Hub's anonymous pull limits).
ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- builder --
FROM ${RUST_IMAGE} AS builder
WORKDIR /src

# Everything cargo needs (the workspace: root crate, migrations/, static/ …);
# .dockerignore keeps target/, data/ and .git out of the context.
COPY . .

# The cargo registry, git checkouts and target/ live in BuildKit cache
# mounts, so rebuilds only recompile what changed. The cache mounts are not
# part of the image, hence the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin tidewatch \
    && install -D -m 0755 target/release/tidewatch /out/tidewatch \
    && mkdir -p /out/static \
    && if [ -d static ]; then cp -a static/. /out/static/; fi

# ---------------------------------------------------------------- runtime --
FROM ${RUNTIME_IMAGE} AS runtime

# ca-certificates: TLS to SMTP, Slack, PagerDuty, webhooks, RDS.
# Versions are not pinned: bookworm-slim only ever carries the current
# security release of each package, so a pin would break on the next update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# Fixed, non-root UID/GID (10001) — the Kubernetes securityContext uses it.
RUN groupadd --system --gid 10001 tidewatch \
    && useradd --system --uid 10001 --gid tidewatch --home-dir /data \
        --no-create-home --shell /usr/sbin/nologin tidewatch \
    && install -d -o tidewatch -g tidewatch -m 0750 /data

COPY --from=builder /out/tidewatch /usr/local/bin/tidewatch
# The dashboard assets (static/, if the repository has it) under the working
# directory, for a binary that serves ./static from disk; harmless if they
# are embedded into the binary at build time.
COPY --from=builder /out/static /app/static
WORKDIR /app

ENV TIDEWATCH_BIND=0.0.0.0:8080 \
    TIDEWATCH_DATA_DIR=/data \
    DATABASE_URL="sqlite:///data/tidewatch.db?mode=rwc"

VOLUME ["/data"]
EXPOSE 8080
USER 10001:10001

# No HEALTHCHECK: the slim image has no curl/wget and adding one only for
# this is not worth the size and attack surface. Kubernetes probes
# /healthz and /readyz (k8s/deployment.yaml); locally, `curl localhost:8080/healthz`.

ENTRYPOINT ["tidewatch"]
CMD ["serve"]
