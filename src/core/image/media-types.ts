import {InvalidArgumentError} from '../errors.js'
import type {Compression} from './compression.js'

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociNondistLayer: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociNondistLayerGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociNondistLayerZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const

/** The version of the OCI image layout (the `oci-layout` file) that containerd 1.6 imports; it refuses any other. */
export const OCI_LAYOUT_VERSION = '1.0.0'

/** Layer media types we unpack, and how each is compressed. Non-distributable layers unpack like the others. */
const LAYERS: Record<string, Compression> = {
  [MT.ociLayer]: 'none',
  [MT.ociLayerGzip]: 'gzip',
  [MT.ociLayerZstd]: 'zstd',
  [MT.ociNondistLayer]: 'none',
  [MT.ociNondistLayerGzip]: 'gzip',
  [MT.ociNondistLayerZstd]: 'zstd',
  [MT.dockerLayer]: 'none',
  [MT.dockerLayerGzip]: 'gzip',
  [MT.dockerForeignLayerGzip]: 'gzip',
}

export function layerCompression(mediaType: string, where: string): Compression {
  const c = LAYERS[mediaType]
  if (c === undefined) {
    throw new InvalidArgumentError(`${where}: unsupported layer media type ${JSON.stringify(mediaType)} (supported: OCI tar, tar+gzip, tar+zstd and their non-distributable variants, Docker rootfs.diff.tar.gzip)`)
  }
  return c
}

export const isIndex = (mt: string | undefined): boolean => mt === MT.ociIndex || mt === MT.dockerList
export const isManifest = (mt: string | undefined): boolean => mt === MT.ociManifest || mt === MT.dockerManifest

/** docker save does not name a layer's compression: read it from the first bytes. */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip'
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd'
  return 'none'
}
