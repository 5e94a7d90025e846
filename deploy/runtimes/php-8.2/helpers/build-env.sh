# Sourced by helpers/build.sh (deploy/runtimes/_common) in the build dir before the build commands.
export COMPOSER_ALLOW_SUPERUSER=1 COMPOSER_NO_INTERACTION=1 COMPOSER_HOME=${COMPOSER_HOME:-$HOME/.composer}
# The builder mounts the host CA bundle here: composer (curl/openssl) must trust it.
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
if [ -f "$CA_BUNDLE" ]; then
  export COMPOSER_CAFILE=${COMPOSER_CAFILE:-$CA_BUNDLE} SSL_CERT_FILE=${SSL_CERT_FILE:-$CA_BUNDLE} \
    CURL_CA_BUNDLE=${CURL_CA_BUNDLE:-$CA_BUNDLE}
fi
