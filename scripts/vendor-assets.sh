#!/usr/bin/env bash
# Copy the pinned front-end assets (package.json / package-lock.json) into dtr/static/vendor.
# The copies are committed: the server never needs npm or a CDN. Run after changing a version.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund >/dev/null
out=dtr/static/vendor
rm -rf "$out" && mkdir -p "$out/swagger-ui"
cp node_modules/htmx.org/dist/htmx.min.js "$out/"
cp node_modules/htmx-ext-sse/dist/sse.min.js "$out/htmx-sse.min.js"
cp node_modules/@picocss/pico/css/pico.min.css "$out/"
for f in swagger-ui-bundle.js swagger-ui.css LICENSE; do
  cp "node_modules/swagger-ui-dist/$f" "$out/swagger-ui/"
done
node -e 'for (const p of ["htmx.org","htmx-ext-sse","@picocss/pico","swagger-ui-dist"]) console.log(p, require("./node_modules/"+p+"/package.json").version)' > "$out/VERSIONS"
