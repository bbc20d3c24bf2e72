# The container image of pgtrickle-relay.
#   docker build -t pgtrickle-relay --build-arg RELAY_GIT_REVISION=$(git rev-parse --short=12 HEAD) .
#   docker run --stop-timeout 30 -e PGTRICKLE_RELAY_POSTGRES_URL=postgresql://... -p 9090:9090 pgtrickle-relay
#   scripts/image.sh [--deb FILE]   the same with buildah, into podman's store (docs/container.md)
# The build stage runs the scripts CI runs (scripts/install-deps.sh, scripts/package.sh); the image
# installs the resulting Debian package on debian:bookworm-slim, so it holds the package's files and
# exactly the runtime libraries its dependencies name. install-deps.sh builds librdkafka 2.8.0 there
# (scripts/librdkafka.sh), which the relay links statically (docs/operations.md#librdkafka).

FROM debian:bookworm AS build
ARG RELAY_GIT_REVISION=""
WORKDIR /src
COPY . .
# A context holding only a package built before (scripts/image.sh --deb) skips the compile.
RUN if [ -f CMakeLists.txt ]; then \
      scripts/install-deps.sh build && RELAY_GIT_REVISION="$RELAY_GIT_REVISION" scripts/package.sh /out; \
    else mkdir /out && mv pgtrickle-relay_*.deb /out/; fi

FROM debian:bookworm-slim
# A fixed uid, so that Kubernetes can check runAsNonRoot (deploy/kubernetes/deployment.yaml); the
# package's postinst finds the user already there.
RUN groupadd --system --gid 10001 pgtrickle-relay \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/pgtrickle-relay --no-create-home \
      --shell /usr/sbin/nologin pgtrickle-relay
COPY --from=build /out/pgtrickle-relay_*.deb /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends /tmp/pgtrickle-relay_*.deb curl \
 && rm -rf /var/lib/apt/lists/* /tmp/pgtrickle-relay_*.deb \
 && install -d -o pgtrickle-relay -g pgtrickle-relay -m 0750 /var/lib/pgtrickle-relay

# Configuration by the PGTRICKLE_RELAY_* variables (pgtrickle-relay --help); a TOML file may be
# mounted and named by PGTRICKLE_RELAY_CONFIG.
ENV PGTRICKLE_RELAY_METRICS_ADDR=0.0.0.0:9090 \
    PGTRICKLE_RELAY_LOG_FORMAT=json \
    PGTRICKLE_RELAY_STATE_DIR=/var/lib/pgtrickle-relay
EXPOSE 9090
USER 10001:10001
WORKDIR /var/lib/pgtrickle-relay
# Ready: connected to the database and the pipeline catalog loaded.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD port="${PGTRICKLE_RELAY_METRICS_ADDR##*:}"; curl -fsS -o /dev/null "http://127.0.0.1:${port:-9090}/health/ready" || exit 1
# SIGTERM: each pipeline drains its batch (10 s at most), then the relay exits 0; give the container
# more than that before it is killed (docker run --stop-timeout 30; Kubernetes: 30 s by default).
STOPSIGNAL SIGTERM
ENTRYPOINT ["pgtrickle-relay"]
CMD ["run"]
