# OCI image layouts written by hand (sourced by tools/cluster/node and tools/image/*): a few JSON documents
# and the layers' tar files, addressed by their sha256. No Docker, no registry, no extra tool.
# shellcheck shell=bash

# The image architecture of this machine, as OCI names it.
oci_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) echo "oci.sh: unsupported CPU $(uname -m)" >&2 && return 1 ;;
  esac
}

# oci_tar <rootfs> <out.tar>: a reproducible layer of a directory (owned by root, time 0, sorted names).
oci_tar() {
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$1" -cf "$2" .
}

# oci_image <layout> <ref> <config> <layer.tar>...: writes an OCI image layout holding one image whose
# filesystem is the layers (uncompressed tars, moved into the layout) and whose runtime config is <config>,
# a JSON object (User, Entrypoint, Env, WorkingDir...). Prints the manifest's digest (sha256:...).
oci_image() {
  local out=$1 ref=$2 config=$3 layer digest layers='' diff_ids='' sep='' cfg manifest arch
  shift 3
  arch=$(oci_arch)
  mkdir -p "$out/blobs/sha256"
  for layer in "$@"; do
    digest=$(sha256sum "$layer" | cut -d' ' -f1)
    mv "$layer" "$out/blobs/sha256/$digest"
    layers+="$sep{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$digest\",\"size\":$(stat -c %s "$out/blobs/sha256/$digest")}"
    diff_ids+="$sep\"sha256:$digest\""
    sep=,
  done
  printf '{"architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$arch" "$config" "$diff_ids" >"$out/config.json"
  cfg=$(sha256sum "$out/config.json" | cut -d' ' -f1)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[%s]}' \
    "$cfg" "$(stat -c %s "$out/config.json")" "$layers" >"$out/manifest.json"
  mv "$out/config.json" "$out/blobs/sha256/$cfg"
  manifest=$(sha256sum "$out/manifest.json" | cut -d' ' -f1)
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$(stat -c %s "$out/manifest.json")" "$arch" "$ref" "${ref##*:}" >"$out/index.json"
  mv "$out/manifest.json" "$out/blobs/sha256/$manifest"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
  echo "sha256:$manifest"
}
