#!/usr/bin/env bash
# Regenerate the TEST-ONLY module signing key/certificate.
# Normally you do NOT need to run this: the committed signing_key.pem /
# signing_key.x509 keep the signed fixtures reproducible. Regenerating
# changes every signed fixture (new key, new signature bytes).
set -euo pipefail
cd "$(dirname "$0")"
openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 \
	-config x509.genkey -set_serial 0x726b6d6f64 \
	-newkey rsa:2048 -keyout signing_key.pem -outform PEM -out signing_key.x509
chmod 0644 signing_key.pem
openssl x509 -in signing_key.x509 -noout -subject -serial -dates
