#!/bin/sh
# Runs a command of the image's build with the CA bundle that ./scripts/image.sh build
# --ca-bundle FILE mounts at /run/mnist-ca.crt trusted by pip, cargo and npm; without one, as it is.
# (A mount, not a build argument: the layers are the same with or without it.)
ca=/run/mnist-ca.crt
if [ -f "$ca" ]; then
  export PIP_CERT="$ca" CARGO_HTTP_CAINFO="$ca" NPM_CONFIG_CAFILE="$ca" SSL_CERT_FILE="$ca"
fi
exec "$@"
