#!/usr/bin/env bash
# A development bearer token, for people without a Rust toolchain: the same
# token `cargo xtask token` prints (ES256, issuer shop-dev, audience shop),
# signed with the committed DEVELOPMENT key, which anyone can read.
#
#   docker compose run --rm token alice            # a user
#   docker compose run --rm token admin --admin    # may write the catalog
#
# Needs bash and openssl; the PostgreSQL image has both, so compose runs it
# there. Usage: token.sh SUBJECT [--admin] [--ttl SECS]
set -euo pipefail

key=${DEV_PRIVATE_KEY:-/keys/dev-private.pem}
issuer=${AUTH_ISSUER:-shop-dev}
audience=${AUTH_AUDIENCE:-shop}
subject= admin=false ttl=86400

usage() { echo "usage: token SUBJECT [--admin] [--ttl SECS]" >&2; exit 2; }
while (($#)); do
  case $1 in
    --admin) admin=true ;;
    --ttl) [[ ${2:-} =~ ^[0-9]+$ ]] || usage; ttl=$2; shift ;;
    -*) usage ;;
    *) [[ -z $subject ]] || usage; subject=$1 ;;
  esac
  shift
done
# A conservative alphabet keeps the JSON below free of escaping problems.
[[ $subject =~ ^[A-Za-z0-9._@-]{1,255}$ ]] || usage

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

now=$(date +%s)
roles=
if $admin; then roles=',"roles":["admin"]'; fi
header=$(printf '{"alg":"ES256","typ":"JWT"}' | b64url)
claims=$(printf '{"sub":"%s","iss":"%s","aud":"%s","exp":%d,"iat":%d%s}' \
  "$subject" "$issuer" "$audience" $((now + ttl)) "$now" "$roles" | b64url)

# openssl signs in DER (an ASN.1 SEQUENCE of two INTEGERs r and s); a JWS
# wants r and s as two 32-byte big-endian numbers side by side.
der=$(printf '%s.%s' "$header" "$claims" | openssl dgst -sha256 -sign "$key" | openssl base64 -A)
raw=
while read -r hex; do
  hex=${hex#00}                      # DER adds a 00 when the top bit is set
  while ((${#hex} < 64)); do hex="0$hex"; done
  raw+=$hex
done < <(printf '%s' "$der" | openssl base64 -A -d | openssl asn1parse -inform DER | awk -F: '/INTEGER/ {print $NF}')
((${#raw} == 128)) || { echo "token: unexpected signature" >&2; exit 1; }
signature=$(printf '%b' "$(sed 's/../\\x&/g' <<<"$raw")" | b64url)

printf '%s.%s.%s\n' "$header" "$claims" "$signature"
