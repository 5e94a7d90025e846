# Image for one of the four services. The binaries are built on the host (`cargo build --release`)
# and copied in, so this builds without a registry from the locally imported Debian base
# (`fnplat/base-bookworm:latest`, see scripts/build-images.sh); in production pass
# `--build-arg BASE=debian:bookworm-slim`.
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=api-gateway \
#     -t fnplat/api-gateway:latest .
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG SERVICE
COPY target/release/${SERVICE} /usr/local/bin/service
RUN useradd --system --uid 10001 --home-dir /nonexistent fnplat || true
USER 10001
ENV RUST_LOG=info LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/service"]
