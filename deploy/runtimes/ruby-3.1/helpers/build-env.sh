# Sourced by helpers/build.sh (deploy/runtimes/_common) in the build dir before the build commands.
# Gems go into the function (packed with it): `bundle install` => vendor/bundle, found again at run time.
export BUNDLE_PATH=${BUNDLE_PATH:-vendor/bundle} BUNDLE_SILENCE_ROOT_WARNING=1 BUNDLE_JOBS=${BUNDLE_JOBS:-4}
# The builder mounts the host CA bundle here: rubygems/bundler (openssl) must trust it.
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
if [ -f "$CA_BUNDLE" ]; then
  export SSL_CERT_FILE=${SSL_CERT_FILE:-$CA_BUNDLE}
fi
