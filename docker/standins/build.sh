#!/usr/bin/env bash
# Builds local stand-ins for the base images that docker-compose.yml and the
# Dockerfiles name, from Debian packages (mmdebstrap + `docker import`), for
# machines that cannot pull images (CI here). Idempotent: an image that
# already exists is skipped (FORCE=1 rebuilds). Needs root, mmdebstrap and a
# Debian mirror; prints `NAME=image` lines that docker/ci.sh exports.
#
#   bash docker/standins/build.sh              # all four (or: cargo xtask standins)
#   bash docker/standins/build.sh postgres     # only some
#
# The stand-ins carry local names under shop-standin/, never an official
# image's name, so nobody mistakes one for the real thing:
#
#   shop-standin/rust-builder:1  for RUST_IMAGE      (official rust, slim)
#   shop-standin/runtime:1       for RUNTIME_IMAGE   (distroless cc, nonroot)
#   shop-standin/postgres:1      for POSTGRES_IMAGE  (official postgres 15)
#   shop-standin/nginx:1         for GATEWAY_IMAGE   (official nginx)
#
# Bump a tag when its recipe changes, so existing machines rebuild it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
suite=${STANDIN_SUITE:-bookworm}
mirror=${STANDIN_MIRROR:-http://deb.debian.org/debian}
security=${STANDIN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# The host's toolchain: the one `rustc` on PATH resolves to.
toolchain=${STANDIN_RUST_TOOLCHAIN:-$(rustc --print sysroot)}

RUST_BUILDER=shop-standin/rust-builder:1
RUNTIME=shop-standin/runtime:1
POSTGRES=shop-standin/postgres:1
NGINX=shop-standin/nginx:1

log() { printf '[standins] %s\n' "$*" >&2; }

exists() { [[ -z ${FORCE:-} ]] && docker image inspect "$1" >/dev/null 2>&1; }

# mmdebstrap writes a tarball of the root filesystem to stdout; `docker
# import` turns it into a one-layer image. Docs, man pages and locales are
# never unpacked (copyright files are kept), apt's lists are not kept.
debstrap() {
  mmdebstrap --quiet --mode=root --format=tar \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    "$@" "$suite" - \
    "deb $mirror $suite main" \
    "deb $mirror $suite-updates main" \
    "deb $security $suite-security main"
}

build() { # NAME -- mmdebstrap args -- docker import --change args
  local name=$1; shift
  if exists "$name"; then
    log "$name exists, skipped"
    return
  fi
  local strap=() change=()
  while [[ $1 != -- ]]; do strap+=("$1"); shift; done
  shift
  for c in "$@"; do change+=(--change "$c"); done
  log "building $name"
  local started=$SECONDS
  # Through a file, so that a failed mmdebstrap never leaves a broken image.
  local tarball
  tarball=$(mktemp /var/tmp/standin.XXXXXX.tar)
  if ! debstrap "${strap[@]}" >"$tarball"; then
    rm -f "$tarball"
    log "mmdebstrap failed for $name"
    exit 1
  fi
  docker import "${change[@]}" \
    --message "stand-in built by docker/standins/build.sh" "$tarball" "$name" >/dev/null
  rm -f "$tarball"
  log "$name built in $((SECONDS - started)) s ($(docker image inspect -f '{{.Size}}' "$name" | awk '{printf "%d MB", $1/1e6}'))"
}

# Rust builder: Debian minbase, a C toolchain for crates that build C (ring),
# and this machine's Rust toolchain laid out like the official image
# (RUSTUP_HOME, CARGO_HOME, cargo on PATH). Only what compiles is copied:
# no docs, no rust-src, no rust-analyzer. It also trusts the certificate
# authorities this machine trusts, so that cargo in a build container
# reaches crates.io the way the host's cargo does (through a TLS-inspecting
# proxy, on some CI machines).
rust_builder() {
  [[ -x $toolchain/bin/cargo ]] || { log "no Rust toolchain at $toolchain"; exit 1; }
  local version
  version=$("$toolchain/bin/rustc" --version | awk '{print $2}')
  build "$RUST_BUILDER" \
    --variant=minbase --include=gcc,libc6-dev,ca-certificates \
    --customize-hook="mkdir -p \"\$1/usr/local/rustup/toolchains/$version\" \"\$1/usr/local/cargo/bin\"" \
    --customize-hook="cp -a '$toolchain/lib' \"\$1/usr/local/rustup/toolchains/$version/\"" \
    --customize-hook="mkdir -p \"\$1/usr/local/rustup/toolchains/$version/bin\" && cp -a '$toolchain/bin/cargo' '$toolchain/bin/rustc' '$toolchain/bin/rustdoc' \"\$1/usr/local/rustup/toolchains/$version/bin/\"" \
    --customize-hook="for b in cargo rustc rustdoc; do ln -s ../../rustup/toolchains/$version/bin/\$b \"\$1/usr/local/cargo/bin/\$b\"; done" \
    --customize-hook='cp /etc/ssl/certs/ca-certificates.crt "$1"/etc/ssl/certs/ca-certificates.crt' \
    --customize-hook="chroot \"\$1\" /usr/local/cargo/bin/cargo --version" \
    -- \
    'ENV RUSTUP_HOME=/usr/local/rustup' \
    'ENV CARGO_HOME=/usr/local/cargo' \
    'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "ENV RUST_VERSION=$version" \
    'CMD ["bash"]'
}

# Runtime: like distroless cc, nonroot: glibc, libgcc, CA certificates,
# /etc/passwd with nonroot (65532), no shell, no package manager. The
# packages are only unpacked (variant extract): nothing here runs scripts.
runtime() {
  build "$RUNTIME" \
    --variant=extract --include=base-files,netbase,libc6,libgcc-s1 \
    --customize-hook='rm -rf "$1"/usr/share/doc "$1"/usr/share/lintian "$1"/usr/lib/x86_64-linux-gnu/gconv "$1"/usr/lib/aarch64-linux-gnu/gconv "$1"/var/lib/dpkg "$1"/var/cache/* "$1"/var/log/* "$1"/bin/* "$1"/usr/bin/* "$1"/sbin/* "$1"/usr/sbin/* 2>/dev/null || true' \
    --customize-hook='mkdir -p "$1"/etc/ssl/certs "$1"/home/nonroot "$1"/tmp && chmod 1777 "$1"/tmp && cp /etc/ssl/certs/ca-certificates.crt "$1"/etc/ssl/certs/' \
    --customize-hook='printf "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n" > "$1"/etc/passwd' \
    --customize-hook='printf "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n" > "$1"/etc/group && chown 65532:65532 "$1"/home/nonroot' \
    -- \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    'USER 65532:65532' \
    'WORKDIR /home/nonroot'
}

# PostgreSQL 15 from Debian, with an entrypoint that honours the official
# image's POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB and runs
# /docker-entrypoint-initdb.d/*.sh and *.sql on first start. Like the
# official image it also has bash, openssl and perl (the package's own
# dependencies), which the compose one-shot tools rely on.
postgres() {
  build "$POSTGRES" \
    --variant=minbase --include=postgresql-15 \
    --customize-hook='rm -rf "$1"/var/lib/postgresql/15/main "$1"/etc/postgresql/15/main' \
    --customize-hook="install -m 0755 '$here/postgres/docker-entrypoint.sh' \"\$1/usr/local/bin/docker-entrypoint.sh\"" \
    --customize-hook='mkdir -p "$1"/docker-entrypoint-initdb.d "$1"/var/lib/postgresql/data "$1"/var/run/postgresql && chroot "$1" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql' \
    -- \
    'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'ENV PGDATA=/var/lib/postgresql/data' \
    'ENV LANG=C.UTF-8' \
    'VOLUME /var/lib/postgresql/data' \
    'EXPOSE 5432' \
    'ENTRYPOINT ["docker-entrypoint.sh"]' \
    'CMD ["postgres"]'
}

# nginx from Debian, plus curl (the official image has it too), logging to
# the container's stdout and stderr.
nginx() {
  build "$NGINX" \
    --variant=minbase --include=nginx,curl \
    --customize-hook='rm -f "$1"/etc/nginx/sites-enabled/default && ln -sf /dev/stdout "$1"/var/log/nginx/access.log && ln -sf /dev/stderr "$1"/var/log/nginx/error.log' \
    -- \
    'EXPOSE 80' \
    'CMD ["nginx", "-g", "daemon off;"]'
}

# Arguments choose which to build (default: all four).
wanted=("$@")
((${#wanted[@]})) || wanted=(rust-builder runtime postgres nginx)
for w in "${wanted[@]}"; do
  case $w in
    rust-builder | runtime | postgres | nginx) ;;
    *) log "unknown stand-in '$w' (rust-builder, runtime, postgres, nginx)"; exit 2 ;;
  esac
done
command -v mmdebstrap >/dev/null || { log "mmdebstrap is missing: apt-get install mmdebstrap"; exit 1; }
for w in "${wanted[@]}"; do "${w//-/_}"; done
printf 'RUST_IMAGE=%s\nRUNTIME_IMAGE=%s\nPOSTGRES_IMAGE=%s\nGATEWAY_IMAGE=%s\n' \
  "$RUST_BUILDER" "$RUNTIME" "$POSTGRES" "$NGINX"
